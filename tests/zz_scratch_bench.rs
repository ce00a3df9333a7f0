mod common;
use netlens::model::{Arch, Network, Weights};
#[test]
fn scratch_bench() {
    let arch = Arch::squeezenet1_1(1000);
    let w = Weights::load(&common::data_dir().join("weights/squeezenet1_1.safetensors")).unwrap();
    let net = Network::new(common::ctx(), arch, &w).unwrap();
    let r = netlens::bench::bench(&net, 1, (224, 224), 1, 3).unwrap();
    eprintln!(
        "fwd {:.1} ms ({:.2} GFLOP/s), fwd+bwd {:.1} ms ({:.2} GFLOP/s)",
        r.forward_ms,
        r.forward_gflops(),
        r.forward_backward_ms,
        r.forward_backward_gflops()
    );
    for (k, v) in &r.gpu_ms_per_kernel {
        eprintln!("  {k}: {v:.2} ms");
    }
}
