//! The attack settings `fool` and `transfer` share, turned into an [`AttackConfig`].

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use netlens::fooling::{AttackConfig, AttackMethod, Loss, Norm};

/// What `fool` and `transfer` attack, and how.
#[derive(Args, Clone, Debug)]
pub struct AttackJob {
    /// Image files or folders of images (repeat --image for several).
    #[arg(long = "image", short = 'i', required = true)]
    pub images: Vec<PathBuf>,
    /// Target class: index, synset or name; repeat or comma-separate for several (every image
    /// is attacked toward every target). Without one, attacks are untargeted: away from the
    /// network's prediction on the original.
    #[arg(long = "target", short = 't', value_delimiter = ',')]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub settings: AttackSettings,
    /// Images per GPU batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

impl AttackJob {
    /// The attack configuration, refusing the fooling method without a target.
    pub fn config(&self) -> Result<AttackConfig> {
        let config = self.settings.config()?;
        if config.method == AttackMethod::Fool && self.targets.is_empty() {
            bail!(
                "--method fool needs --target CLASS (or choose fgsm, pgd or mifgsm for untargeted)"
            );
        }
        Ok(config)
    }
}

/// How images are attacked.
#[derive(Args, Clone, Debug)]
pub struct AttackSettings {
    /// fool: the classic fooling image, x += lr·g/‖g‖₂ on the target's logit until it is the
    /// top class; fgsm, pgd, mifgsm: the standard attacks within an ε-ball.
    #[arg(long, default_value = "fool")]
    pub method: AttackMethod,
    /// Norm of the budget and steps of fgsm/pgd/mifgsm: linf or l2.
    #[arg(long, default_value = "linf")]
    pub norm: Norm,
    /// Budget in pixel levels (0-255): the L∞ or L2 radius around the original image.
    /// Required by fgsm, pgd and mifgsm.
    #[arg(long)]
    pub eps: Option<f32>,
    /// Step size: the learning rate in normalized units for fool [default 1]; pixel levels for
    /// pgd [default 2.5·eps/steps] and mifgsm [default eps/steps]; fgsm steps by eps.
    #[arg(long, visible_alias = "lr")]
    pub step: Option<f32>,
    /// Most iterations [default: 100 for fool, 10 for pgd and mifgsm, 1 for fgsm].
    #[arg(long, visible_alias = "max-iters")]
    pub steps: Option<usize>,
    /// Start pgd at the original image instead of a random point of the ε-ball.
    #[arg(long)]
    pub no_random_start: bool,
    /// Momentum decay μ of mifgsm.
    #[arg(long, default_value_t = 1.0)]
    pub decay: f32,
    /// Loss to ascend: logit or cross-entropy [default: logit for fool, cross-entropy for the
    /// others].
    #[arg(long)]
    pub loss: Option<Loss>,
    /// Run every step even after an image reaches its goal (the default for fgsm, pgd and
    /// mifgsm).
    #[arg(long, conflicts_with = "early_stop")]
    pub all_steps: bool,
    /// Freeze each image as soon as it reaches its goal (the default for fool).
    #[arg(long)]
    pub early_stop: bool,
    /// Check goals (and take gradients) on the image rounded to 8 bits, iterating until the
    /// saved PNG reaches the goal: the default for fool; fgsm, pgd and mifgsm step the unrounded
    /// image unless given this flag.
    #[arg(long, conflicts_with = "no_survive_rounding")]
    pub survive_rounding: bool,
    /// Check goals on the unrounded image, as the classic floating-point loop does: fool then
    /// stops as soon as that image is classified as the target, and its 8-bit PNG may not be.
    #[arg(long)]
    pub no_survive_rounding: bool,
    /// Steps between reads of the per-image flags (early stop, progress).
    #[arg(long, default_value_t = 5)]
    pub check_every: usize,
    /// Seed of pgd's random start.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl AttackSettings {
    /// The configuration these flags ask for, over the method's usual settings.
    pub fn config(&self) -> Result<AttackConfig> {
        let mut config = match (self.method, self.eps) {
            (AttackMethod::Fool, _) => AttackConfig::fool(1.0, 100),
            (method, Some(eps)) => {
                let mut c = AttackConfig::standard(method, self.norm, eps);
                if let Some(steps) = self.steps {
                    // Keep the usual step size relative to the number of steps.
                    c.step *= c.steps as f32 / steps as f32;
                    c.steps = steps;
                }
                c
            }
            (method, None) => bail!("--method {method} needs a budget: --eps LEVELS (0-255)"),
        };
        if self.method == AttackMethod::Fool {
            if let Some(steps) = self.steps {
                config.steps = steps;
            }
            if self.eps.is_some() {
                bail!("--method fool has no budget; drop --eps or choose fgsm, pgd or mifgsm");
            }
        }
        if let Some(step) = self.step {
            config.step = step;
        }
        if let Some(loss) = self.loss {
            config.loss = loss;
        }
        config.random_start &= !self.no_random_start;
        config.decay = if self.method == AttackMethod::MiFgsm {
            self.decay
        } else {
            0.0
        };
        if self.all_steps {
            config.stop_when_reached = false;
        }
        if self.early_stop {
            config.stop_when_reached = true;
        }
        if self.survive_rounding {
            config.survive_rounding = true;
        }
        if self.no_survive_rounding {
            config.survive_rounding = false;
        }
        config.check_every = self.check_every;
        config.seed = self.seed;
        config.validate()?;
        Ok(config)
    }

    /// A short description for titles: "fool, lr 1" (", checked unrounded" with
    /// `--no-survive-rounding`) or "pgd linf ε=8".
    pub fn describe(config: &AttackConfig) -> String {
        match config.method {
            AttackMethod::Fool if config.survive_rounding => format!("fool, lr {}", config.step),
            AttackMethod::Fool => format!("fool, lr {}, checked unrounded", config.step),
            m => format!(
                "{m} {} \u{3b5}={} levels, {} step{}",
                config.norm,
                config.eps,
                config.steps,
                if config.steps == 1 { "" } else { "s" }
            ),
        }
    }
}
