//! Learned grid models (the completion autoencoder, RadioUNet) as [`GridModel`]s: one trait
//! for what the trainer and the adapter need of a network, and the wrapper that runs one on a
//! device.

use super::{GridBatch, GridInputs, GridModel, GridTargets};
use crate::error::{Result, RmeError};
use burn::tensor::{Device, Tensor};

/// A burn network that maps a [`GridBatch`] to a map on the same grid.
pub trait GridNetwork {
    /// The estimate, normalised to `[0, 1]` (see [`super::normalise_db`]).
    ///
    /// # Shapes
    ///
    /// - batch planes: `[batch, 1, rows, cols]`
    /// - output: `[batch, 1, rows, cols]`
    fn forward(&self, batch: &GridBatch) -> Tensor<4>;

    /// The training loss of a batch (`[1]`).
    fn loss(&self, batch: &GridBatch, targets: &GridTargets) -> Tensor<1>;

    /// Whether the network can run on a `rows × cols` grid (pooling levels), with an error
    /// naming the size otherwise.
    fn check_grid(&self, rows: usize, cols: usize) -> Result<()>;
}

/// A network on a device, answering through the grid adapter.
#[derive(Clone, Debug)]
pub struct NetworkModel<N> {
    /// The network.
    pub net: N,
    /// Where it runs.
    pub device: Device,
    /// Its name in tables ("radiounet-small").
    pub label: String,
}

impl<N: GridNetwork> NetworkModel<N> {
    fn batch(&self, inputs: &GridInputs) -> Result<GridBatch> {
        self.net.check_grid(inputs.grid.rows, inputs.grid.cols)?;
        GridBatch::new(&[inputs], &self.device)
    }

    fn values(&self, data: burn::tensor::TensorData) -> Result<Vec<f64>> {
        let v = data.try_to_vec::<f32>().map_err(|e| RmeError::numerical(&self.label, format!("reading the output: {e:?}")))?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(RmeError::numerical(&self.label, "the network produced a non-finite value"));
        }
        Ok(v.into_iter().map(f64::from).collect())
    }

    /// [`GridModel::predict`] without blocking (the browser reads GPU buffers asynchronously).
    pub async fn predict_async(&self, inputs: &GridInputs) -> Result<Vec<f64>> {
        let out = self.net.forward(&self.batch(inputs)?);
        let data = out.into_data_async().await.map_err(|e| RmeError::numerical(&self.label, format!("reading the output: {e:?}")))?;
        self.values(data)
    }
}

impl<N: GridNetwork> GridModel for NetworkModel<N> {
    fn name(&self) -> &str {
        &self.label
    }

    fn predict(&self, inputs: &GridInputs) -> Result<Vec<f64>> {
        let out = self.net.forward(&self.batch(inputs)?);
        self.values(out.into_data())
    }
}
