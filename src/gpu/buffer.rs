//! Creating, filling and reading back GPU buffers.

use std::ops::Range;

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// Usage of every storage buffer netlens makes: bound to kernels, copied in and out.
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuContext {
    /// Fails when a storage buffer of `bytes` would not fit one binding on this device.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let limits = self.limits();
        let (limit, max) = if limits.max_storage_buffer_binding_size <= limits.max_buffer_size {
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            )
        } else {
            ("max_buffer_size", limits.max_buffer_size)
        };
        if bytes > max {
            return Err(Error::BufferTooLarge {
                what: what.to_string(),
                bytes,
                limit,
                max,
            });
        }
        Ok(())
    }

    /// A zero-filled storage buffer of `elements` 4-byte values.
    pub fn storage(&self, what: &str, elements: usize) -> Result<wgpu::Buffer> {
        let bytes = (elements.max(1) * 4) as u64;
        self.check_binding(what, bytes)?;
        Ok(self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes,
            usage: STORAGE,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data` (4-byte values: f32 or u32).
    pub fn upload<T: bytemuck::Pod>(&self, what: &str, data: &[T]) -> Result<wgpu::Buffer> {
        const { assert!(size_of::<T>() == 4) };
        if data.is_empty() {
            return self.storage(what, 1);
        }
        self.check_binding(what, std::mem::size_of_val(data) as u64)?;
        Ok(self
            .device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents: bytemuck::cast_slice(data),
                usage: STORAGE,
            }))
    }

    /// A uniform buffer holding one parameter block.
    pub fn uniform<T: bytemuck::Pod>(&self, what: &str, value: &T) -> wgpu::Buffer {
        self.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Overwrites the start of a buffer with `data`.
    pub fn write<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer, data: &[T]) {
        self.queue()
            .write_buffer(buffer, 0, bytemuck::cast_slice(data));
    }

    /// Submits an encoder's commands.
    pub fn submit(&self, encoder: wgpu::CommandEncoder) -> wgpu::SubmissionIndex {
        crate::gpu::counts::bump(|c| c.submits += 1);
        self.queue().submit([encoder.finish()])
    }

    /// A fresh command encoder.
    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Records `passes` passes of a loop, `per_submit` to a command buffer: `record(encoder,
    /// pass)` records one; each buffer is submitted and waited on ([`GpuContext::wait`]), then
    /// `progress` moves by the passes it held. The submit loop the gradient loops share.
    pub fn submit_passes(
        &self,
        label: &str,
        (passes, per_submit): (usize, usize),
        progress: &dyn crate::progress::Progress,
        mut record: impl FnMut(&mut wgpu::CommandEncoder, usize),
    ) -> Result<()> {
        let per_submit = per_submit.max(1);
        for group in (0..passes).step_by(per_submit) {
            let end = (group + per_submit).min(passes);
            let mut encoder = self.encoder(label);
            for pass in group..end {
                record(&mut encoder, pass);
            }
            self.submit(encoder);
            self.wait()?;
            progress.inc((end - group) as u64);
        }
        Ok(())
    }

    /// Natively, blocks until all submitted work is done; then reports any GPU error. In a
    /// browser the device is polled by the browser and this only reports errors: await a
    /// [`GpuContext::read`] to wait there.
    pub fn wait(&self) -> Result<()> {
        self.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.fail(format!("waiting for the GPU failed: {e}")))?;
        self.check()
    }

    /// Reads elements `range` of a buffer of 4-byte values back to the host, once the GPU is
    /// done with it. Natively the wait polls the device on the calling thread; in a browser it
    /// yields to the event loop until the buffer is mapped.
    pub async fn read<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        range: Range<usize>,
    ) -> Result<Vec<T>> {
        const { assert!(size_of::<T>() == 4) };
        let len = range.len();
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * 4) as u64;
        // Errors of the readback itself (a range past the end, a destroyed device) are caught
        // here and returned, rather than reaching the device's handler: on a device handed in
        // by an application that handler is the application's, by default a panic.
        let scope = self
            .device()
            .push_error_scope(wgpu::ErrorFilter::Validation);
        let staging = self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.encoder("readback");
        crate::gpu::copy_buffer(
            &mut encoder,
            (buffer, (range.start * 4) as u64),
            (&staging, 0),
            bytes,
        );
        self.submit(encoder);
        let (tx, rx) = crate::gpu::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
        let failed = scope.pop().await;
        self.wait()?;
        if let Some(e) = failed {
            return Err(self.fail(format!(
                "reading back values {range:?} of a buffer of {} bytes failed: {e}",
                buffer.size()
            )));
        }
        rx.await
            .ok_or_else(|| self.fail("buffer mapping was dropped".to_string()))?
            .map_err(|e| self.fail(format!("mapping a buffer for readback failed: {e}")))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| self.fail(format!("reading a mapped buffer failed: {e}")))?;
        let out = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Reads a whole buffer of 4-byte values back to the host.
    pub async fn read_all<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer) -> Result<Vec<T>> {
        self.read(buffer, 0..(buffer.size() / 4) as usize).await
    }
}
