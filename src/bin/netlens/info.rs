//! `netlens info`: adapters and limits.

use anyhow::Result;
use clap::Args;
use netlens::gpu::{describe_adapter, list_adapters};

use crate::args::Global;

/// Arguments of `netlens info` (none besides the adapter choice).
#[derive(Args)]
pub struct InfoArgs {}

pub fn run(global: &Global, _args: InfoArgs) -> Result<()> {
    let options = global.options();
    let adapters = pollster::block_on(list_adapters(&options));
    println!("adapters found:");
    if adapters.is_empty() {
        println!("  (none)");
    }
    for (i, info) in adapters.iter().enumerate() {
        println!("  [{i}] {}", describe_adapter(info));
    }
    let ctx = global.context()?;
    let l = ctx.limits();
    println!("chosen: {}", ctx.adapter_name());
    println!("limits:");
    println!(
        "  max_storage_buffer_binding_size  {}",
        l.max_storage_buffer_binding_size
    );
    println!("  max_buffer_size                  {}", l.max_buffer_size);
    println!(
        "  max_storage_buffers_per_stage    {}",
        l.max_storage_buffers_per_shader_stage
    );
    println!(
        "  max_compute_workgroup_storage    {}",
        l.max_compute_workgroup_storage_size
    );
    println!(
        "  max_compute_invocations          {}",
        l.max_compute_invocations_per_workgroup
    );
    println!(
        "  max_compute_workgroups_per_dim   {}",
        l.max_compute_workgroups_per_dimension
    );
    println!("features: {:?}", ctx.device().features());
    for kind in netlens::model::ModelKind::ALL {
        let arch = kind.arch();
        let net_max = (ctx.max_binding() / arch.largest_buffer_per_image((224, 224))?) as usize;
        println!("{kind}: largest batch at 224x224 within the binding limit: {net_max}");
    }
    Ok(())
}
