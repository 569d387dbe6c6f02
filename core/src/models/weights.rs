//! Shipped weights of every model: burnpack bytes (`model.bpk`) plus `manifest.json`
//! (FORMATS.md). Loading checks the file's sha256 against the manifest and every tensor
//! against the architecture, and names the file in every error; it works from bytes, so the
//! browser uses it too. Each model's loader (e.g. [`super::fm_rme::load_fm_rme`]) adds its
//! config on top.

use crate::error::{Result, RmeError};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `manifest.json` beside a `model.bpk`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The model's name (its folder under `static/models/`).
    pub name: String,
    /// The architecture: "fm-rme", …
    pub kind: String,
    /// The model's `#[derive(Config)]` JSON.
    pub config: serde_json::Value,
    /// The model's inference settings where it has any (FM-RME: its [`super::fm_rme::ContextConfig`]).
    /// Absent in manifests written before they moved out of `config`, which then holds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// Number of parameters (checked on load).
    pub params: usize,
    /// sha256 of `model.bpk` (checked on load).
    pub sha256: String,
    /// What it was trained on.
    #[serde(default)]
    pub trained_on: String,
    /// The training command line.
    #[serde(default)]
    pub command: String,
    /// The commit it was trained at.
    #[serde(default)]
    pub commit: String,
    /// The machine and device it was trained on.
    #[serde(default)]
    pub hardware: String,
    /// Training steps.
    #[serde(default)]
    pub steps: u64,
    /// Evaluation results, as the suite wrote them.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Anything else worth knowing about these weights.
    #[serde(default)]
    pub notes: String,
}

impl Manifest {
    /// The manifest of `bytes` (their sha256) for a model `name` of `kind` with `config` and
    /// `params` parameters; provenance, metrics and notes empty, for the caller to fill.
    pub fn describing(name: &str, kind: &str, config: serde_json::Value, params: usize, bytes: &[u8]) -> Self {
        Manifest {
            name: name.into(),
            kind: kind.into(),
            config,
            context: None,
            params,
            sha256: sha256_hex(bytes),
            trained_on: String::new(),
            command: String::new(),
            commit: String::new(),
            hardware: String::new(),
            steps: 0,
            metrics: serde_json::Value::Null,
            notes: String::new(),
        }
    }

    /// Parses a manifest; `name` names the file in errors.
    pub fn parse(text: &str, name: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| RmeError::parse(name, Some(e.line()), e.to_string()))
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that a manifest describes a model of `kind`, that `bytes` are the file it names,
/// and that the architecture and inference settings it states are those stored in the file
/// at export ([`Stamp`]): an edited `manifest.json` would otherwise load and predict
/// differently.
pub fn check_manifest(manifest: &Manifest, kind: &str, bytes: &[u8], name: &str) -> Result<()> {
    if manifest.kind != kind {
        return Err(RmeError::parse(name, None, format!("manifest kind '{}' is not '{kind}'", manifest.kind)));
    }
    let sha = sha256_hex(bytes);
    if sha != manifest.sha256 {
        return Err(RmeError::parse(
            name,
            None,
            format!("sha256 {sha} does not match the manifest's {} (corrupt or mismatched file)", manifest.sha256),
        ));
    }
    let stored = Stamp::read(bytes, name)?.ok_or_else(|| {
        RmeError::parse(name, None, "the weights carry no architecture stamp (exported by an older rme): export them again")
    })?;
    stored.check_against(manifest, name)
}

/// What a shipped weights file states about itself, in the burnpack metadata: the kind, the
/// architecture config and the inference settings it was exported with. Loading compares the
/// manifest with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamp {
    /// The architecture's name ("fm-rme", "radiodun", …).
    pub kind: String,
    /// The architecture's `#[derive(Config)]` JSON.
    pub config: serde_json::Value,
    /// The inference settings, where the model has any.
    pub context: Option<serde_json::Value>,
}

impl Stamp {
    const KIND: &'static str = "rme.kind";
    const CONFIG: &'static str = "rme.config";
    const CONTEXT: &'static str = "rme.context";

    /// The stamp a manifest describes.
    pub fn of(manifest: &Manifest) -> Self {
        Stamp { kind: manifest.kind.clone(), config: manifest.config.clone(), context: manifest.context.clone() }
    }

    /// The stamp stored in burnpack `bytes`, if any; `name` names the file in errors.
    pub fn read(bytes: &[u8], name: &str) -> Result<Option<Self>> {
        let reader = burn::store::burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| RmeError::parse(name, None, format!("not a burnpack file: {e:?}")))?;
        let meta = reader.metadata();
        let (Some(kind), Some(config)) = (meta.get(Self::KIND), meta.get(Self::CONFIG)) else {
            return Ok(None);
        };
        let json = |text: &str, what: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| RmeError::parse(name, None, format!("the {what} stored in the weights is not JSON: {e}")))
        };
        let context = meta.get(Self::CONTEXT).map(|c| json(c, "context")).transpose()?;
        Ok(Some(Stamp { kind: kind.clone(), config: json(config, "config")?, context }))
    }

    /// An error naming the first field where `manifest` differs from this stamp.
    pub fn check_against(&self, manifest: &Manifest, name: &str) -> Result<()> {
        let stated = Stamp::of(manifest);
        if stated.kind != self.kind {
            return Err(RmeError::parse(
                name,
                None,
                format!("the manifest's architecture '{}' is not the weights' '{}' (stored at export)", stated.kind, self.kind),
            ));
        }
        for (what, a, b) in [
            ("config", &stated.config, &self.config),
            ("context", &stated.context.clone().unwrap_or_default(), &self.context.clone().unwrap_or_default()),
        ] {
            if a != b {
                return Err(RmeError::parse(
                    name,
                    None,
                    format!(
                        "the manifest's {what} differs from the one stored in the weights at export ({}): the manifest was edited",
                        first_difference(a, b)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The first key path where two JSON values differ, with both values.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (u, v) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                if u != v {
                    let inner = first_difference(u, v);
                    return if inner.starts_with(':') { format!("{k}{inner}") } else { format!("{k}.{inner}") };
                }
            }
            "?".into()
        }
        _ => format!(": {a} in the manifest, {b} in the weights"),
    }
}

/// Serialises a model's parameters as burnpack bytes.
pub fn module_to_bytes<M: Module>(model: &M) -> Result<Vec<u8>> {
    save_store(model, BurnpackStore::from_bytes(None))
}

/// Serialises a model's parameters as burnpack bytes with `stamp` in their metadata: the
/// shipped form (`rme export`).
pub fn module_to_stamped_bytes<M: Module>(model: &M, stamp: &Stamp) -> Result<Vec<u8>> {
    let text = |v: &serde_json::Value| serde_json::to_string(v).map_err(|e| RmeError::invalid("model config", e.to_string()));
    let mut store = BurnpackStore::from_bytes(None).metadata(Stamp::KIND, stamp.kind.clone()).metadata(Stamp::CONFIG, text(&stamp.config)?);
    if let Some(c) = &stamp.context {
        store = store.metadata(Stamp::CONTEXT, text(c)?);
    }
    save_store(model, store)
}

/// The shipped form of `model` (kind, architecture `config`, inference settings `context`):
/// its stamped bytes and the manifest describing them, provenance left for the caller.
pub fn shipped<M: Module>(
    model: &M,
    name: &str,
    kind: &str,
    config: serde_json::Value,
    context: Option<serde_json::Value>,
) -> Result<(Vec<u8>, Manifest)> {
    let stamp = Stamp { kind: kind.into(), config: config.clone(), context: context.clone() };
    let bytes = module_to_stamped_bytes(model, &stamp)?;
    let manifest = Manifest { context, ..Manifest::describing(name, kind, config, model.num_params(), &bytes) };
    Ok((bytes, manifest))
}

fn save_store<M: Module>(model: &M, mut store: BurnpackStore) -> Result<Vec<u8>> {
    model.save_into(&mut store).map_err(|e| RmeError::invalid("model weights", format!("{e:?}")))?;
    let bytes = store.get_bytes().map_err(|e| RmeError::invalid("model weights", format!("{e:?}")))?;
    Ok(bytes.to_vec())
}

/// Loads burnpack bytes into `model` (freshly initialised with the right config): every
/// tensor must match, none may be missing or left over. `name` names the file in errors.
pub fn module_from_bytes<M: Module>(mut model: M, bytes: &[u8], name: &str) -> Result<M> {
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())));
    let result = model.load_from(&mut store).map_err(|e| {
        let detail: String = format!("{e:?}").chars().take(300).collect();
        RmeError::parse(name, None, format!("not a burnpack file of this architecture (the manifest's config): {detail}…"))
    })?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        return Err(RmeError::parse(
            name,
            None,
            format!(
                "weights do not match the architecture in the manifest: {} missing (e.g. {:?}), {} unused (e.g. {:?}), {} errors (e.g. {:?})",
                result.missing.len(),
                result.missing.first().map(|m| &m.0),
                result.unused.len(),
                result.unused.first(),
                result.errors.len(),
                result.errors.first()
            ),
        ));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::nn::LinearConfig;

    fn linear_shipped() -> (Vec<u8>, Manifest) {
        let model = LinearConfig::new(3, 2).init(&cpu());
        let config = serde_json::json!({"d_input": 3, "d_output": 2, "n_heads": 4});
        shipped(&model, "lin", "linear", config, Some(serde_json::json!({"length_scale_m": 40.0}))).unwrap()
    }

    #[test]
    fn the_stamp_round_trips_and_an_edited_manifest_is_named() {
        let (bytes, manifest) = linear_shipped();
        check_manifest(&manifest, "linear", &bytes, "lin/model.bpk").unwrap();
        assert_eq!(Stamp::read(&bytes, "x").unwrap(), Some(Stamp::of(&manifest)));

        let mut heads = manifest.clone();
        heads.config["n_heads"] = serde_json::json!(2);
        let e = check_manifest(&heads, "linear", &bytes, "lin/model.bpk").unwrap_err().to_string();
        assert!(e.contains("lin/model.bpk") && e.contains("n_heads") && e.contains("edited"), "{e}");

        let mut scale = manifest.clone();
        scale.context = Some(serde_json::json!({"length_scale_m": 80.0}));
        let e = check_manifest(&scale, "linear", &bytes, "lin/model.bpk").unwrap_err().to_string();
        assert!(e.contains("length_scale_m") && e.contains("80"), "{e}");
    }

    #[test]
    fn unstamped_or_foreign_bytes_are_refused() {
        let model = LinearConfig::new(3, 2).init(&cpu());
        let bare = module_to_bytes(&model).unwrap();
        let manifest = Manifest::describing("lin", "linear", serde_json::json!({}), model.num_params(), &bare);
        let e = check_manifest(&manifest, "linear", &bare, "lin/model.bpk").unwrap_err().to_string();
        assert!(e.contains("no architecture stamp"), "{e}");
        let junk = b"not a burnpack file".to_vec();
        let manifest = Manifest::describing("lin", "linear", serde_json::json!({}), 1, &junk);
        let e = check_manifest(&manifest, "linear", &junk, "lin/model.bpk").unwrap_err().to_string();
        assert!(e.contains("lin/model.bpk") && e.contains("burnpack"), "{e}");
    }
}
