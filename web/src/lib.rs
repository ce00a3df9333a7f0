//! The netlens web page's engine: netlens on the browser's WebGPU, exported to JavaScript with
//! wasm-bindgen. The page decodes photos and draws results; everything in between (the
//! preprocessing, the networks, the saliency, fooling and dreaming loops, the colormap) is the
//! library's own code, so the numbers are those of the command line. Every GPU wait is awaited:
//! each job returns a promise and the page stays responsive while it runs.

mod jobs;
mod photo;
mod progress;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use netlens::classes::ClassNames;
use netlens::model::{ModelKind, Network, Weights};
use netlens::{GpuContext, GpuOptions};

pub use jobs::{DreamImage, Fooled, SaliencyMap};
pub use photo::Photo;

/// A library error as a JavaScript `Error`.
fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// One network on the device.
struct Model {
    kind: ModelKind,
    net: Network,
}

/// What every job shares: the device, the class names and the network loaded last.
struct Shared {
    ctx: GpuContext,
    classes: ClassNames,
    model: RefCell<Option<Rc<Model>>>,
}

/// The engine the page drives: one WebGPU device, the ImageNet class names, one network.
#[wasm_bindgen]
pub struct Lens {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Lens {
    /// Opens the browser's WebGPU adapter (fallback adapters included) and reads the class
    /// names, the text of `imagenet_classes.txt`. Rejects, saying why, when WebGPU has no
    /// adapter or the adapter is below the limits the kernels need.
    pub async fn open(classes: String) -> Result<Lens, JsError> {
        let classes =
            ClassNames::parse(&classes, Path::new("imagenet_classes.txt")).map_err(js_error)?;
        let ctx = GpuContext::new(&GpuOptions::default())
            .await
            .map_err(js_error)?;
        Ok(Lens {
            shared: Rc::new(Shared {
                ctx,
                classes,
                model: RefCell::new(None),
            }),
        })
    }

    /// The adapter in one line (browsers may keep its name to themselves).
    pub fn adapter(&self) -> String {
        match self.shared.ctx.adapter_info() {
            Some(info) if info.name.is_empty() => {
                format!("{:?} (the browser does not name it)", info.device_type)
            }
            _ => self.shared.ctx.adapter_name(),
        }
    }

    /// Loads `kind` (`squeezenet` or `vgg16`) from the bytes of a safetensors file named `name`
    /// (for messages), replacing the network loaded before.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, kind: &str, bytes: &[u8], name: &str) -> Result<(), JsError> {
        let kind: ModelKind = kind.parse().map_err(js_error)?;
        let weights = Weights::from_bytes(bytes, Path::new(name)).map_err(js_error)?;
        let net = Network::new(&self.shared.ctx, kind.arch(), &weights).map_err(js_error)?;
        *self.shared.model.borrow_mut() = Some(Rc::new(Model { kind, net }));
        Ok(())
    }

    /// The loaded network's name, or an empty string.
    pub fn model(&self) -> String {
        self.shared
            .model
            .borrow()
            .as_ref()
            .map_or_else(String::new, |m| m.kind.name().to_string())
    }

    /// Every class's first name, in index order.
    #[wasm_bindgen(js_name = classNames)]
    pub fn class_names(&self) -> Vec<String> {
        let classes = &self.shared.classes;
        (0..classes.len())
            .map(|i| classes.name(i).to_string())
            .collect()
    }

    /// The class index meant by `query`: an index, a synset id or a name (see
    /// `ClassNames::resolve`); the error suggests names.
    #[wasm_bindgen(js_name = resolveClass)]
    pub fn resolve_class(&self, query: &str) -> Result<u32, JsError> {
        self.shared
            .classes
            .resolve(query)
            .map(|i| i as u32)
            .map_err(js_error)
    }
}

impl Lens {
    /// The loaded network, or an error saying none is.
    fn loaded(&self) -> Result<Rc<Model>, JsError> {
        self.shared
            .model
            .borrow()
            .clone()
            .ok_or_else(|| JsError::new("no network is loaded"))
    }
}
