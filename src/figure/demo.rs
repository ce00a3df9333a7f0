//! A demo, run by hand, that draws the three kinds of figure the commands make from synthetic
//! images, for looking at the layout: `cargo test --lib figure::demo -- --ignored`.

use image::imageops::FilterType;
use image::{Rgb, RgbImage};

use super::{BEIGE, BLACK, Cell, Colormap, Figure};

/// A smooth synthetic "photo": a sky-to-ground gradient with a shaded disc, varied by `seed`.
fn photo(seed: u32, size: u32) -> RgbImage {
    let s = seed as f32;
    let (cx, cy, r) = (0.35 + 0.1 * (s * 1.7).sin(), 0.55, 0.22 + 0.03 * s.cos());
    let hue = [
        (0.9, 0.4, 0.2),
        (0.2, 0.6, 0.3),
        (0.7, 0.6, 0.2),
        (0.3, 0.3, 0.8),
        (0.6, 0.2, 0.6),
    ][seed as usize % 5];
    RgbImage::from_fn(size, size, |x, y| {
        let (u, v) = (x as f32 / size as f32, y as f32 / size as f32);
        let ground = (v - 0.6).max(0.0) * 2.0;
        let texture = 0.05 * ((u * 40.0 + s).sin() * (v * 30.0).cos());
        let mut c = [
            0.55 + 0.3 * v - ground * 0.2 + texture,
            0.7 + 0.1 * v - ground * 0.3 + texture,
            0.9 - 0.4 * v - ground * 0.5 + texture,
        ];
        let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt() / r;
        if d < 1.0 {
            let shade = 0.55 + 0.45 * (1.0 - d * d).sqrt() - 0.25 * (u - cx + v - cy);
            c = [hue.0 * shade, hue.1 * shade, hue.2 * shade];
        }
        Rgb(c.map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8))
    })
}

/// A saliency-like map: a blob over the disc, speckled.
fn saliency(seed: u32, size: usize) -> Vec<f32> {
    let s = seed as f32;
    let (cx, cy) = (0.35 + 0.1 * (s * 1.7).sin(), 0.55);
    (0..size * size)
        .map(|i| {
            let (u, v) = (
                (i % size) as f32 / size as f32,
                (i / size) as f32 / size as f32,
            );
            let blob = (-((u - cx).powi(2) + (v - cy).powi(2)) / 0.02).exp();
            let speckle = ((i as f32 * 12.9898 + s).sin() * 43758.547).fract().abs();
            blob * (0.4 + 0.6 * speckle) + 0.08 * speckle
        })
        .collect()
}

#[test]
#[ignore = "writes demo PNGs to /tmp for looking at"]
fn write_demo_figures() {
    let labels = [
        ("hay", "hay"),
        ("quail", "partridge"),
        ("Tibetan mastiff", "Tibetan mastiff"),
        ("Border terrier", "Norfolk terrier"),
        ("brown bear, bruin, Ursus arctos", "sloth bear"),
    ];
    let photos = (0..5).map(|i| photo(i, 224));
    let maps = (0..5).map(|i| {
        let map = Colormap::Hot.render(&saliency(i, 224), 224, 224, None);
        Cell::new(map)
    });
    let saliency_figure = Figure::new(224, 224)
        .title("Saliency maps (SqueezeNet 1.1)")
        .labelled_row(
            "image",
            photos.zip(labels).map(|(p, (truth, guess))| {
                Cell::new(p).caption(truth, BLACK).caption(guess, BEIGE)
            }),
        )
        .labelled_row("saliency", maps)
        .render();
    saliency_figure.save("/tmp/figure_demo.png").unwrap();

    let original = photo(0, 224);
    let fooled = photo(0, 224);
    let difference = Colormap::Seismic.render(&vec![0.0; 224 * 224], 224, 224, None);
    let amplified = RgbImage::from_fn(224, 224, |x, y| {
        let v = (((x * 7 + y * 13) % 17) as f32 / 17.0 * 255.0) as u8;
        Rgb([v, 255 - v, 128])
    });
    let fooling_figure = Figure::new(224, 224)
        .title("Fooling image: hay \u{2192} stingray")
        .column_titles(["original", "fooled", "difference", "difference \u{d7}10"])
        .row([
            Cell::new(original).caption("hay (97.1%)", BLACK),
            Cell::new(fooled).caption("stingray (99.2%)", BEIGE),
            Cell::new(difference).caption("max change 0.004", BLACK),
            Cell::new(amplified),
        ])
        .colorbar(Colormap::Seismic, (-0.004, 0.004), "pixel change")
        .render();
    fooling_figure.save("/tmp/figure_demo_fooling.png").unwrap();

    let snapshot = |i: u32| {
        let small = photo(i, 56);
        Cell::new(small)
            .filter(FilterType::Nearest)
            .caption(format!("iteration {}", 25 * i), BLACK)
    };
    let mut sweep = Figure::new(112, 112).title("Class visualization: tarantula");
    for (i, label) in [
        "l2 reg 1e-4, lr 25",
        "l2 reg 1e-3, lr 25",
        "l2 reg 1e-3, blur every 10 iterations",
    ]
    .into_iter()
    .enumerate()
    {
        sweep = sweep.labelled_row(label, (1..=6).map(|k| snapshot(k + i as u32)));
    }
    sweep.render().save("/tmp/figure_demo_dream.png").unwrap();
}
