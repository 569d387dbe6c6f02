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

/// Checks that a manifest describes a model of `kind` and that `bytes` are the file it names.
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
    Ok(())
}

/// Serialises a model's parameters as burnpack bytes.
pub fn module_to_bytes<M: Module>(model: &M) -> Result<Vec<u8>> {
    let mut store = BurnpackStore::from_bytes(None);
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
