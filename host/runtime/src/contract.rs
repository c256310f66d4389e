//! Which `loom:bundle` contract a component targets, and what it imports and exports.
//!
//! The version is read from the names of the component's `loom:bundle/*` imports and exports
//! (e.g. `loom:bundle/logic@0.1.0`), before anything is instantiated, so a bundle built for
//! another contract is refused with the versions in the message instead of failing later on a
//! type mismatch.

use crate::error::RuntimeError;
use crate::host::is_loom;
use serde::{Deserialize, Serialize};
use wasmtime::component::types::{self, ComponentItem};
use wasmtime::Engine;

/// The contract versions this loom implements, as shown to people.
pub const SUPPORTED_RANGE: &str = "0.1.x and 0.2.x";

/// A contract version this host binds (see [`crate::wit`]): one per minor, since wasmtime
/// matches any `0.N.x` import to the `0.N.0` the host defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    /// The version a component built against `version` is run as, if this loom supports it.
    /// Pre-releases are refused, as wasmtime's semver matching would refuse them.
    pub fn of(version: &str) -> Option<Contract> {
        match parse(version)? {
            (0, 1, _) => Some(Contract::V0_1),
            (0, 2, _) => Some(Contract::V0_2),
            _ => None,
        }
    }

    /// The version the host binds it as, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// Whether a bundle of this version declares its needs (commands and settings).
    pub fn declares_needs(self) -> bool {
        self >= Contract::V0_2
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True if this loom can run a component built against `loom:bundle@version`: any `0.1.x` or
/// `0.2.x`.
pub fn is_supported(version: &str) -> bool {
    Contract::of(version).is_some()
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let v = (next()?, next()?, next()?);
    // A fourth part, or a suffix such as "-rc1" (which fails the number parse above), is not
    // a plain release.
    if version.split('.').count() != 3 {
        return None;
    }
    Some(v)
}

/// The version part of a `loom:bundle/...` name; "unversioned" when it has none.
fn version_of(name: &str) -> &str {
    name.split_once('@').map_or("unversioned", |(_, v)| v)
}

/// The contract version `ty` targets: an unsupported version if it names one (so a refusal
/// quotes it), else the highest it names; `None` if it names no `loom:bundle` interface.
pub(crate) fn target_version(ty: &types::Component, engine: &Engine) -> Option<String> {
    let names = ty
        .imports(engine)
        .chain(ty.exports(engine))
        .map(|(name, _)| name)
        .filter(|name| is_loom(name));
    let mut best: Option<&str> = None;
    for version in names.map(version_of) {
        if !is_supported(version) {
            return Some(version.to_owned());
        }
        if best.is_none_or(|b| parse(version) > parse(b)) {
            best = Some(version);
        }
    }
    best.map(str::to_owned)
}

/// The contract version `ty` targets; refuses a component that targets none this loom
/// supports, or names interfaces of two (its imports and exports must agree).
pub(crate) fn check(
    ty: &types::Component,
    engine: &Engine,
    bundle: &str,
) -> Result<Contract, RuntimeError> {
    let found = match target_version(ty, engine) {
        None => {
            return Err(RuntimeError::NotABundle {
                bundle: bundle.to_owned(),
            })
        }
        Some(found) => found,
    };
    let Some(contract) = Contract::of(&found) else {
        return Err(RuntimeError::UnsupportedVersion {
            bundle: bundle.to_owned(),
            found,
            supported: SUPPORTED_RANGE,
        });
    };
    let mixed: Vec<String> = ty
        .imports(engine)
        .chain(ty.exports(engine))
        .map(|(name, _)| name)
        .filter(|name| is_loom(name) && Contract::of(version_of(name)) != Some(contract))
        .map(str::to_owned)
        .collect();
    if !mixed.is_empty() {
        return Err(RuntimeError::MixedVersions {
            bundle: bundle.to_owned(),
            contract: contract.as_str(),
            others: mixed.join(", "),
        });
    }
    Ok(contract)
}

/// What `loom bundle check` shows about a component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentReport {
    /// SHA-256 (hex) of the component's bytes: how runs record which bundle they ran.
    pub hash: String,
    pub size_bytes: usize,
    /// The `loom:bundle` version it targets; `None` if it names no `loom:bundle` interface.
    pub loom_version: Option<String>,
    /// Whether this loom can run it (see [`SUPPORTED_RANGE`]).
    pub supported: bool,
    pub supported_range: String,
    /// It exports `logic` and `rules` (world `bundle`).
    pub is_bundle: bool,
    /// It exports `rules` (usable as invariants; every bundle is).
    pub has_rules: bool,
    pub imports: Vec<ImportReport>,
    pub exports: Vec<ExportReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub name: String,
    /// True for imports outside `loom:bundle/*`: linked to stubs that trap when called.
    pub stubbed: bool,
    /// The functions of an imported interface (empty for an interface of types only).
    pub functions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    pub name: String,
    pub functions: Vec<String>,
}

fn functions(engine: &Engine, item: &ComponentItem) -> Vec<String> {
    match item {
        ComponentItem::ComponentInstance(inst) => inst
            .exports(engine)
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
            .map(|(name, _)| name.to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn report(
    ty: &types::Component,
    engine: &Engine,
    hash: String,
    size_bytes: usize,
) -> ComponentReport {
    let loom_version = target_version(ty, engine);
    let imports: Vec<ImportReport> = ty
        .imports(engine)
        .map(|(name, item)| ImportReport {
            name: name.to_owned(),
            stubbed: !is_loom(name),
            functions: functions(engine, &item.ty),
        })
        .collect();
    let exports: Vec<ExportReport> = ty
        .exports(engine)
        .map(|(name, item)| ExportReport {
            name: name.to_owned(),
            functions: functions(engine, &item.ty),
        })
        .collect();
    let exports_iface = |iface: &str| {
        exports.iter().any(|e| {
            e.name
                .strip_prefix("loom:bundle/")
                .is_some_and(|n| n.split('@').next() == Some(iface))
        })
    };
    let has_rules = exports_iface("rules");
    ComponentReport {
        hash,
        size_bytes,
        supported: loom_version.as_deref().is_some_and(is_supported),
        loom_version,
        supported_range: SUPPORTED_RANGE.to_owned(),
        is_bundle: has_rules && exports_iface("logic"),
        has_rules,
        imports,
        exports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_versions() {
        assert!(is_supported("0.1.0"));
        assert!(is_supported("0.1.7"));
        assert_eq!(Contract::of("0.1.3"), Some(Contract::V0_1));
        assert_eq!(Contract::of("0.2.0"), Some(Contract::V0_2));
        assert_eq!(Contract::of("0.2.9"), Some(Contract::V0_2));
        assert!(Contract::V0_2.declares_needs() && !Contract::V0_1.declares_needs());
        for v in [
            "0.3.0",
            "0.2.0-rc1",
            "1.0.0",
            "0.0.1",
            "0.1",
            "0.1.0-rc1",
            "0.1.0.1",
            "unversioned",
            "",
        ] {
            assert!(!is_supported(v), "{v}");
        }
    }

    /// A released contract is never edited: a bundle built against it must keep meaning what
    /// it meant. A change an old bundle could observe is a new version, in a folder of its own.
    #[test]
    fn released_contracts_are_pinned_by_hash() {
        let released = [
            (
                include_str!("../../../wit/0.1.0/bundle.wit"),
                "760a3d5d36528e33fad481c46efd7982ae020f007a176c54dfbf9e2d02689b0b",
            ),
            (
                include_str!("../../../wit/0.2.0/bundle.wit"),
                "1d5b5e253cd589065697f9ed3336a037fab83cff51359e7f552b2d51abcfb7d7",
            ),
        ];
        for (i, (text, pinned)) in released.iter().enumerate() {
            assert_eq!(
                loom_kernel::hash::sha256_hex(text.as_bytes()),
                *pinned,
                "released contract {i} was edited: make a new version instead"
            );
        }
    }

    /// The SDK binds its own copy of the newest contract, so it builds outside a checkout;
    /// the copy must be the contract itself.
    #[test]
    fn the_sdk_vendors_the_newest_contract_unchanged() {
        assert_eq!(
            include_str!("../../../sdk/wit/bundle.wit"),
            include_str!("../../../wit/0.2.0/bundle.wit"),
            "sdk/wit/bundle.wit differs from wit/0.2.0/bundle.wit: copy it again"
        );
    }

    #[test]
    fn version_part_of_names() {
        assert_eq!(version_of("loom:bundle/logic@0.1.0"), "0.1.0");
        assert_eq!(version_of("loom:bundle/logic"), "unversioned");
    }
}
