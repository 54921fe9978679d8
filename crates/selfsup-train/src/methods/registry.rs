//! The registry of methods: the list every place that enumerates methods is generated from
//! (`for_each_method!`), and the names it gives them ([`MethodKind`]).

use std::fmt;

/// The registry of methods: the one place a method's name becomes its type. Each line is
/// `Variant: module::{Method, Settings}, "what it is";`: the module's name is the method's name
/// in configs and on the command line, and its settings are the config's section of that name
/// (`[wcl]`). Adding a method is its file plus one line here (docs/adding-a-method.md).
/// `$then!` receives the whole list: it declares [`MethodKind`] below, the modules
/// (methods/mod.rs), `with_method` (dispatch.rs) and the config's method sections
/// (config/sections.rs).
macro_rules! for_each_method {
    ($then:ident) => {
        $then! {
            Simclr: simclr::{Simclr, SimclrConfig},
                "SimCLR v1/v2: NT-Xent between two views, the rest of the batch as negatives";
            Wcl: wcl::{Wcl, WclConfig},
                "WCL: SimCLR's head plus a second one trained on weak labels from the 1-NN graph";
            InstDisc: instdisc::{InstDisc, InstDiscConfig},
                "InstDisc: memory bank + NCE (Wu et al. 2018)";
            Cmc: cmc::{Cmc, CmcConfig},
                "CMC: one encoder per Lab view (L, ab), contrasted across views (RGB data only)";
            Moco: moco::{Moco, MocoConfig},
                "MoCo v1/v2: key encoder by EMA, queue of negatives";
            Byol: byol::{Byol, ByolConfig},
                "BYOL: predictor on the online network, EMA target, no negatives";
            Simsiam: simsiam::{Simsiam, SimsiamConfig},
                "SimSiam: predictor, stop-gradient, no EMA and no negatives";
            Barlow: barlow::{Barlow, BarlowConfig},
                "Barlow Twins: cross-correlation of the two views' embeddings towards the identity";
            Swav: swav::{Swav, SwavConfig},
                "SwAV: swapped prediction of Sinkhorn-Knopp codes over learned prototypes";
            Exemplar: exemplar::{Exemplar, ExemplarConfig},
                "Exemplar-CNN: each of N seed images is its own class, learned from its transformations";
        }
    };
}
pub(crate) use for_each_method;

/// Defines [`MethodKind`] from the registry.
macro_rules! declare_kind {
    ($($variant:ident: $module:ident::{$method:ident, $settings:ident}, $about:literal;)*) => {
        /// The method a config names (`method = "wcl"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MethodKind {
            $(#[doc = $about] $variant,)*
        }

        impl MethodKind {
            /// Every method, in the registry's order.
            pub const ALL: &[MethodKind] = &[$(MethodKind::$variant),*];

            /// Its names in configs and on the command line, in the registry's order.
            pub const NAMES: &[&str] = &[$(stringify!($module)),*];

            /// Its name in configs and on the command line (`instdisc`).
            pub fn name(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => stringify!($module),)*
                }
            }

            /// One line on what it is (for `--help`).
            pub fn about(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => $about,)*
                }
            }
        }

    };
}

for_each_method!(declare_kind);

impl fmt::Display for MethodKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MethodKind {
    type Err = String;

    /// A method by its name; the error lists the names there are.
    fn from_str(name: &str) -> Result<Self, String> {
        let position = MethodKind::NAMES.iter().position(|&known| known == name);
        position.map(|i| MethodKind::ALL[i]).ok_or_else(|| {
            format!(
                "unknown method `{name}`, expected one of {}",
                MethodKind::NAMES.join(", ")
            )
        })
    }
}

// By name, as a config writes it; serde's error for an unknown name lists the known ones.
impl serde::Serialize for MethodKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for MethodKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse()
            .map_err(|_| serde::de::Error::unknown_variant(&name, MethodKind::NAMES))
    }
}
