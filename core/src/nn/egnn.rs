//! GAFE: the geometry-aware feature extractor of FM-RME (fm-rme.txt eqs. 4–8), an E(n)-
//! equivariant message-passing layer in the style of EGNN (Satorras et al. 2021):
//!
//! ```text
//! m_ij = φ_e(h_i, h_j, |x_i − x_j|², a_ij)
//! v_ij = (x_i − x_j) · φ_x(m_ij)
//! m_i  = Σ_j m_ij,   v_i = Σ_j v_ij
//! h_i ← h_i + φ_h(h_i, m_i, |v_i|)
//! ```
//!
//! over a k-nearest-neighbour graph. Positions enter only through `|x_i − x_j|²` and `|v_i|`,
//! so the output is invariant to any rotation and translation of all positions. The graph is
//! dense (`[batch, nodes, k]` neighbour indices gathered with `select`), so no scatter is
//! needed and padded nodes are handled by an edge mask.

use super::cpu_kernels::silu;
use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

/// A dense k-NN graph of a padded batch.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Neighbour of each (batch, node, slot) as a flat index into `batch·nodes`: `[B·N·K]`.
    pub neighbours: Tensor<1, Int>,
    /// Invariant edge attributes `a_ij`: `[B, N, K, A]`.
    pub edge_attr: Tensor<4>,
    /// 1 for a real edge, 0 for padding: `[B, N, K, 1]`.
    pub edge_mask: Tensor<4>,
    /// Neighbours per node.
    pub k: usize,
}

impl Graph {
    /// Gathers a per-node tensor `[B, N, C]` at the neighbours: `[B, N, K, C]`.
    pub fn gather(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, n, c] = x.dims();
        x.reshape([b * n, c]).select(0, self.neighbours.clone()).reshape([b, n, self.k, c])
    }
}

/// Configuration of one [`GafeLayer`].
#[derive(Config, Debug)]
pub struct GafeLayerConfig {
    /// Node feature width.
    pub d_hidden: usize,
    /// Edge attribute width (FM-RME: 2, `[|Δt|, |Δf|]`). Default 2.
    #[config(default = 2)]
    pub d_edge: usize,
}

/// One GAFE message-passing layer.
#[derive(Module, Debug)]
pub struct GafeLayer {
    edge_in: Linear,
    edge_out: Linear,
    coord_in: Linear,
    coord_out: Linear,
    node_in: Linear,
    node_out: Linear,
}

impl GafeLayerConfig {
    /// Builds the layer.
    pub fn init(&self, device: &Device) -> GafeLayer {
        let d = self.d_hidden;
        GafeLayer {
            edge_in: LinearConfig::new(2 * d + 1 + self.d_edge, d).init(device),
            edge_out: LinearConfig::new(d, d).init(device),
            coord_in: LinearConfig::new(d, d).init(device),
            // A scalar per edge, without bias: v_ij stays 0 when the message is 0.
            coord_out: LinearConfig::new(d, 1).with_bias(false).init(device),
            node_in: LinearConfig::new(2 * d + 1, d).init(device),
            node_out: LinearConfig::new(d, d).init(device),
        }
    }
}

impl GafeLayer {
    /// # Shapes
    ///
    /// - h: `[batch, nodes, d_hidden]` scalar node features
    /// - pos: `[batch, nodes, 2]` positions (model units)
    /// - output: `[batch, nodes, d_hidden]`
    pub fn forward(&self, h: Tensor<3>, pos: Tensor<3>, graph: &Graph) -> Tensor<3> {
        let [b, n, d] = h.dims();
        let k = graph.k;
        let h_i = h.clone().unsqueeze_dim::<4>(2).expand([b, n, k, d]);
        let h_j = graph.gather(h.clone());
        let diff = pos.clone().unsqueeze_dim::<4>(2).expand([b, n, k, 2]) - graph.gather(pos);
        let dist2 = diff.clone().powi_scalar(2).sum_dim(3); // [b, n, k, 1]
        let edge_in = Tensor::cat(vec![h_i, h_j, dist2, graph.edge_attr.clone()], 3);
        let m_ij = silu(self.edge_out.forward(silu(self.edge_in.forward(edge_in)))) * graph.edge_mask.clone();
        let w_ij = self.coord_out.forward(silu(self.coord_in.forward(m_ij.clone()))); // [b, n, k, 1]
        let v_i = (diff * w_ij * graph.edge_mask.clone()).sum_dim(2).reshape([b, n, 2]);
        let m_i = m_ij.sum_dim(2).reshape([b, n, d]);
        // |v_i| with a small floor so the gradient at v = 0 stays finite.
        let v_norm = (v_i.powi_scalar(2).sum_dim(2) + 1e-8).sqrt(); // [b, n, 1]
        let update = self.node_out.forward(silu(self.node_in.forward(Tensor::cat(vec![h.clone(), m_i, v_norm], 2))));
        h + update
    }
}

/// Configuration of the [`Gafe`] stack.
#[derive(Config, Debug)]
pub struct GafeConfig {
    /// Width of the raw node features (FM-RME: 3, `[power, f̃, t̃]`). Default 3.
    #[config(default = 3)]
    pub d_input: usize,
    /// Node feature width after the lifting layer (no default: the model's token width).
    pub d_hidden: usize,
    /// GAFE message-passing layers. Default 2.
    #[config(default = 2)]
    pub n_layers: usize,
    /// Edge attribute width (FM-RME: 2, `[|Δt|, |Δf|]`). Default 2.
    #[config(default = 2)]
    pub d_edge: usize,
}

/// Lifting layer plus `n_layers` GAFE layers.
#[derive(Module, Debug)]
pub struct Gafe {
    lift: Linear,
    layers: Vec<GafeLayer>,
}

impl GafeConfig {
    /// Builds the lifting layer and the message-passing stack.
    pub fn init(&self, device: &Device) -> Gafe {
        Gafe {
            lift: LinearConfig::new(self.d_input, self.d_hidden).init(device),
            layers: (0..self.n_layers).map(|_| GafeLayerConfig::new(self.d_hidden).with_d_edge(self.d_edge).init(device)).collect(),
        }
    }
}

impl Gafe {
    /// # Shapes
    ///
    /// - features: `[batch, nodes, d_input]`
    /// - pos: `[batch, nodes, 2]`
    /// - output: `[batch, nodes, d_hidden]`
    pub fn forward(&self, features: Tensor<3>, pos: Tensor<3>, graph: &Graph) -> Tensor<3> {
        let mut h = self.lift.forward(features);
        for layer in &self.layers {
            h = layer.forward(h, pos.clone(), graph);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::rng::Rng;
    use burn::tensor::TensorData;

    /// A graph where each node's neighbours are the k others nearest to it (brute force).
    fn knn_graph(pos: &[[f32; 2]], k: usize, device: &Device) -> Graph {
        let n = pos.len();
        let mut idx = Vec::new();
        for i in 0..n {
            let mut d: Vec<(f32, usize)> =
                (0..n).filter(|&j| j != i).map(|j| ((pos[i][0] - pos[j][0]).powi(2) + (pos[i][1] - pos[j][1]).powi(2), j)).collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            idx.extend(d.iter().take(k).map(|&(_, j)| j as i64));
        }
        Graph {
            neighbours: Tensor::<1, Int>::from_data(TensorData::new(idx, [n * k]), device),
            edge_attr: Tensor::<4>::ones([1, n, k, 2], device) * 0.1,
            edge_mask: Tensor::<4>::ones([1, n, k, 1], device),
            k,
        }
    }

    #[test]
    fn output_shape_and_parameter_count() {
        let d = cpu();
        let layer = GafeLayerConfig::new(8).init(&d);
        // edge_in (2·8+1+2)·8+8, edge_out 8·8+8, coord_in 8·8+8, coord_out 8, node_in 17·8+8, node_out 8·8+8
        let expected = (19 * 8 + 8) + 72 + 72 + 8 + (17 * 8 + 8) + 72;
        assert_eq!(layer.num_params(), expected);
        let pos: Vec<[f32; 2]> = (0..6).map(|i| [i as f32, (i * i) as f32 * 0.1]).collect();
        let g = knn_graph(&pos, 3, &d);
        let h = Tensor::<3>::ones([1, 6, 8], &d);
        let p = Tensor::<3>::from_data(TensorData::new(pos.iter().flatten().copied().collect::<Vec<f32>>(), [1, 6, 2]), &d);
        assert_eq!(layer.forward(h, p, &g).dims(), [1, 6, 8]);
    }

    #[test]
    fn invariant_to_rotation_and_translation() {
        let d = cpu();
        let gafe = GafeConfig::new(16).with_n_layers(2).init(&d);
        let mut rng = Rng::new(5);
        let n = 20;
        let pos: Vec<[f32; 2]> = (0..n).map(|_| [rng.range(-2.0, 2.0) as f32, rng.range(-2.0, 2.0) as f32]).collect();
        let feats: Vec<f32> = (0..n * 3).map(|_| rng.normal() as f32).collect();
        let theta = rng.range(0.0, std::f64::consts::TAU) as f32;
        let (c, s) = (theta.cos(), theta.sin());
        let (tx, ty) = (rng.range(-50.0, 50.0) as f32, rng.range(-50.0, 50.0) as f32);
        let moved: Vec<[f32; 2]> = pos.iter().map(|p| [c * p[0] - s * p[1] + tx, s * p[0] + c * p[1] + ty]).collect();
        let g = knn_graph(&pos, 6, &d); // the k-NN graph is itself invariant
        let run = |p: &[[f32; 2]]| -> Vec<f32> {
            let pt = Tensor::<3>::from_data(TensorData::new(p.iter().flatten().copied().collect::<Vec<f32>>(), [1, n, 2]), &d);
            let ft = Tensor::<3>::from_data(TensorData::new(feats.clone(), [1, n, 3]), &d);
            gafe.forward(ft, pt, &g).into_data().try_to_vec::<f32>().unwrap()
        };
        let a = run(&pos);
        let b = run(&moved);
        let norm = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f32>().sqrt();
        assert!(diff / norm < 1e-4, "relative change {}", diff / norm);
    }

    #[test]
    fn masked_edges_carry_no_message() {
        let d = cpu();
        let layer = GafeLayerConfig::new(4).init(&d);
        let pos: Vec<[f32; 2]> = vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let mut g = knn_graph(&pos, 2, &d);
        let p = Tensor::<3>::from_data(TensorData::new(pos.iter().flatten().copied().collect::<Vec<f32>>(), [1, 3, 2]), &d);
        let h = Tensor::<3>::from_data(TensorData::new((0..12).map(|i| i as f32 * 0.1).collect::<Vec<f32>>(), [1, 3, 4]), &d);
        g.edge_mask = Tensor::<4>::zeros([1, 3, 2, 1], &d);
        let isolated: Vec<f32> = layer.forward(h.clone(), p.clone(), &g).into_data().try_to_vec::<f32>().unwrap();
        // With no edge, the update depends on h_i alone: moving the other nodes changes nothing.
        let p2 = p + Tensor::<3>::from_data(TensorData::new(vec![0.0f32, 0.0, 5.0, 1.0, -3.0, 2.0], [1, 3, 2]), &d);
        let moved: Vec<f32> = layer.forward(h, p2, &g).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(isolated, moved);
    }
}
