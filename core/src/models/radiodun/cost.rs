//! RadioDUN's compute, counted from its layer shapes: multiply-accumulates of every
//! convolution, transposed convolution, linear layer and attention product for one map
//! (element-wise operations, pooling and normalisation are not counted, as is usual for
//! GFLOPs tables). FLOPs are twice the multiply-accumulates.

use super::config::RadioDunConfig;
use super::initialisation::MEASUREMENT_PLANES;

/// Multiply-accumulates of a `k×k` convolution producing `out` channels from `inp` (in
/// `groups` groups) on an `h × w` output.
fn conv(inp: usize, out: usize, k: usize, groups: usize, h: usize, w: usize) -> u64 {
    (out * (inp / groups) * k * k * h * w) as u64
}

/// The initialisation module's.
pub fn initialisation(factors: usize, channels: usize, h: usize, w: usize) -> u64 {
    let planes = MEASUREMENT_PLANES + factors;
    let per_factor = conv(planes, channels, 3, 1, h, w) + conv(channels, 1, 3, 1, h, w);
    factors as u64 * per_factor + conv(factors, 1, 1, 1, h, w) + conv(factors + 1, channels, 3, 1, h, w)
}

/// One stage block's at `c` channels on `h × w` (expansion 2).
pub fn stage_block(c: usize, h: usize, w: usize) -> u64 {
    let hidden = 2 * c;
    let conv_branch = 2 * conv(c, c, 3, 1, h, w);
    let attention = conv(c, 3 * c, 1, 1, h, w) + conv(3 * c, 3 * c, 3, 3 * c, h, w) + 2 * (c * c * h * w) as u64 + conv(c, c, 1, 1, h, w);
    let ffn = conv(c, hidden, 1, 1, h, w) + conv(hidden, hidden, 3, hidden, h, w) + conv(hidden, c, 1, 1, h, w);
    conv_branch + attention + ffn
}

/// The proximal U-net's, from `in_planes` planes.
pub fn proximal(in_planes: usize, channels: &[usize], h: usize, w: usize) -> u64 {
    let mut total = conv(in_planes, channels[0], 3, 1, h, w) + conv(channels[0], 1, 1, 1, h, w);
    for (l, &c) in channels.iter().enumerate() {
        let (lh, lw) = (h >> l, w >> l);
        total += stage_block(c, lh, lw);
        if l > 0 {
            let prev = channels[l - 1];
            // Down: the 1×1 widening after pooling. Up: the transposed 2×2 convolution (each
            // output cell takes one input cell's `c` channels), the 1×1 fusion and a block.
            total += conv(prev, c, 1, 1, lh, lw);
            total += conv(c, prev, 1, 1, h >> (l - 1), w >> (l - 1));
            total += conv(2 * prev, prev, 1, 1, h >> (l - 1), w >> (l - 1)) + stage_block(prev, h >> (l - 1), w >> (l - 1));
        }
    }
    total
}

/// One DRM's with `in_planes` input planes and `c` channels.
pub fn reweighting(in_planes: usize, c: usize, h: usize, w: usize) -> u64 {
    conv(in_planes, c, 3, 1, h, w)
        + conv(c, c, 3, 1, h, w)
        + (c * c) as u64
        + conv(2, 1, 7, 1, h, w)
        + conv(c, c, 3, 1, h, w)
        + 2 * conv(c, c, 3, c, h, w)
        + conv(c, 1, 3, 1, h, w)
}

impl RadioDunConfig {
    /// Multiply-accumulates of one forward pass on an `h × w` map.
    pub fn multiply_adds(&self, h: usize, w: usize) -> u64 {
        let f = self.factors();
        let combine = if self.reweighting { reweighting(f + 1, self.feature_channels, h, w) } else { conv(f + 1, 1, 1, 1, h, w) };
        let block = combine + proximal(1 + f, &self.proximal_channels, h, w);
        initialisation(f, self.feature_channels, h, w) + self.blocks as u64 * block + conv(f - 1, 1, 1, 1, h, w)
    }

    /// GFLOPs (2 × multiply-accumulates / 10⁹) of one forward pass on an `h × w` map.
    pub fn gflops(&self, h: usize, w: usize) -> f64 {
        2.0 * self.multiply_adds(h, w) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initialisation_by_hand() {
        // Two factors, 2 channels, 4×4: each initialiser 5→2 3×3 (2·5·9·16 = 1440) and 2→1
        // 3×3 (288); fusion 2→1 1×1 (32); guide 3→2 3×3 (864).
        assert_eq!(initialisation(2, 2, 4, 4), 2 * (1440 + 288) + 32 + 864);
    }

    #[test]
    fn a_stage_block_by_hand() {
        // c = 2 on 2×2: conv branch 2·(2·2·9·4) = 288; CAM 1×1 2→6 (48), depthwise 6 (216),
        // QKᵀ and AV 2·(2·2·4) = 32, projection 16; FFN 2→4 (32), depthwise 4 (144), 4→2 (32).
        assert_eq!(stage_block(2, 2, 2), 288 + 48 + 216 + 32 + 16 + 32 + 144 + 32);
    }

    #[test]
    fn each_block_adds_the_same_and_the_count_scales_with_the_area() {
        let c = RadioDunConfig::preset("small").unwrap();
        let k = |b: usize| c.clone().with_blocks(b).multiply_adds(128, 128);
        assert_eq!(k(3) - k(2), k(5) - k(4));
        assert!(k(3) > k(2));
        // Every layer is convolutional (no size-tied parameter): 4× the cells, 4× the work
        // except the DRM's one linear layer.
        let linear = 3 * 8 * 8;
        assert_eq!(c.multiply_adds(256, 256) - linear, 4 * (c.multiply_adds(128, 128) - linear));
    }
}
