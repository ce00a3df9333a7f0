// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3), forward and gradient with
// respect to the input. One kernel serves both directions: the input gradient of a 3x3 stride-1
// convolution with padding p is itself a 3x3 stride-1 convolution of dz with padding 2 - p, the
// kernel rotated by 180 degrees and its channel axes swapped (the host packs both weight sets).
//
// Each 2x2 output tile is computed from a 4x4 input patch d as  Y = A^T [ sum_ci U_ci (.) V_ci ] A
// with V = B^T d B (input transform, here) and U = G g G^T (weight transform, done once at load):
// 16 multiplications per tile, channel pair and input channel instead of 36.
//
//   B^T = | 1  0 -1  0 |    G = | 1    0    0   |    A^T = | 1  1  1  0 |
//         | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
//         | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
//         | 0  1  0 -1 |        | 0    0    1   |
//
// Workgroups of 64 invocations along the tiles (x, then z), output-channel blocks of 8 on y; each
// invocation computes one tile for 8 output channels, the weights read as vec4 pairs.

// `WinogradParams`, the uniform block, is declared in src/ops/winograd.rs (uniform_block!).

// Backward (its input dz already masked by the layer's ReLU): mask each output value, once
// complete (after accumulating), by (aux > 0), aux holding the convolution's input x, the output
// of a ReLU: that ReLU's backward fused in.
override MASK_DX: u32 = 0u;

@group(0) @binding(0) var<uniform> params: WinogradParams;
// src, weights4, aux and dst: layer_bindings.wgsl. The weights are U packed as
// [in_c][16][ceil(out_c / 8)][2] vec4: 8 output channels per (channel, position).

// store_grad (writing the output, forward too: there accumulate and MASK_DX are 0) is in
// relu_backward.wgsl.

@compute @workgroup_size(64)
fn winograd(ids: WorkgroupIds) {
    let tiles_per_image = params.tiles_h * params.tiles_w;
    let tile = (ids.wid.x + ids.wid.z * ids.nwg.x) * 64u + ids.lid;
    if tile >= params.batch * tiles_per_image {
        return;
    }
    let n = tile / tiles_per_image;
    let t = tile % tiles_per_image;
    let oy = (t / params.tiles_w) * 2u;
    let ox = (t % params.tiles_w) * 2u;
    let cb = ids.wid.y;
    let c_blocks = (params.out_c + 7u) / 8u;

    // The 4x4 input patch: row offsets and column indices, zero outside the image (padding).
    var row_offset: array<u32, 4>;
    var row_ok: array<bool, 4>;
    var col: array<u32, 4>;
    var col_ok: array<bool, 4>;
    for (var i = 0u; i < 4u; i++) {
        let r = i32(oy + i) - i32(params.pad);
        let c = i32(ox + i) - i32(params.pad);
        row_ok[i] = r >= 0 && r < i32(params.in_h);
        col_ok[i] = c >= 0 && c < i32(params.in_w);
        row_offset[i] = u32(max(r, 0)) * params.in_w;
        col[i] = u32(max(c, 0));
    }
    let in_hw = params.in_h * params.in_w;

    var lo: array<vec4<f32>, 16>;
    var hi: array<vec4<f32>, 16>;
    for (var k = 0u; k < 16u; k++) {
        lo[k] = vec4<f32>(0.0);
        hi[k] = vec4<f32>(0.0);
    }

    for (var ci = 0u; ci < params.in_c; ci++) {
        let base = (n * params.in_total + params.in_offset + ci) * in_hw;
        var d: array<f32, 16>;
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                var v = 0.0;
                if row_ok[i] && col_ok[j] {
                    v = src[base + row_offset[i] + col[j]];
                }
                d[i * 4u + j] = v;
            }
        }
        // T = B^T d (rows), then V = T B (columns), in place.
        for (var j = 0u; j < 4u; j++) {
            let d0 = d[j];
            let d1 = d[4u + j];
            let d2 = d[8u + j];
            let d3 = d[12u + j];
            d[j] = d0 - d2;
            d[4u + j] = d1 + d2;
            d[8u + j] = d2 - d1;
            d[12u + j] = d1 - d3;
        }
        for (var i = 0u; i < 4u; i++) {
            let t0 = d[i * 4u];
            let t1 = d[i * 4u + 1u];
            let t2 = d[i * 4u + 2u];
            let t3 = d[i * 4u + 3u];
            d[i * 4u] = t0 - t2;
            d[i * 4u + 1u] = t1 + t2;
            d[i * 4u + 2u] = t2 - t1;
            d[i * 4u + 3u] = t1 - t3;
        }
        let w0 = (ci * 16u * c_blocks + cb) * 2u;
        for (var k = 0u; k < 16u; k++) {
            let w = w0 + k * c_blocks * 2u;
            lo[k] = fma(weights4[w], vec4<f32>(d[k]), lo[k]);
            hi[k] = fma(weights4[w + 1u], vec4<f32>(d[k]), hi[k]);
        }
    }

    // Y = A^T M A for both halves of the channel block.
    var y_lo: array<vec4<f32>, 4>;
    var y_hi: array<vec4<f32>, 4>;
    for (var half = 0u; half < 2u; half++) {
        var m: array<vec4<f32>, 16>;
        for (var k = 0u; k < 16u; k++) {
            m[k] = select(hi[k], lo[k], half == 0u);
        }
        var r: array<vec4<f32>, 8>; // A^T M: 2 x 4
        for (var j = 0u; j < 4u; j++) {
            r[j] = m[j] + m[4u + j] + m[8u + j];
            r[4u + j] = m[4u + j] - m[8u + j] - m[12u + j];
        }
        var y: array<vec4<f32>, 4>; // (A^T M) A: 2 x 2
        for (var i = 0u; i < 2u; i++) {
            y[i * 2u] = r[i * 4u] + r[i * 4u + 1u] + r[i * 4u + 2u];
            y[i * 2u + 1u] = r[i * 4u + 1u] - r[i * 4u + 2u] - r[i * 4u + 3u];
        }
        if half == 0u {
            y_lo = y;
        } else {
            y_hi = y;
        }
    }

    let out_hw = params.out_h * params.out_w;
    for (var c = 0u; c < 8u; c++) {
        let co = cb * 8u + c;
        if co >= params.out_c {
            break;
        }
        var b = 0.0;
        if params.bias != 0u {
            b = aux[co];
        }
        let plane = (n * params.out_total + params.out_offset + co) * out_hw;
        for (var q = 0u; q < 4u; q++) {
            let py = oy + q / 2u;
            let px = ox + q % 2u;
            if py >= params.out_h || px >= params.out_w {
                continue;
            }
            var v = select(y_hi[q], y_lo[q], c < 4u)[c & 3u] + b;
            if params.relu != 0u {
                v = max(v, 0.0);
            }
            store_grad(plane + py * params.out_w + px, v);
        }
    }
}
