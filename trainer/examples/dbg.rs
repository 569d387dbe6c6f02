use rme_core::classic::{Kriging, SpatialMethod, Sample, SliceContext};
use rme_core::rng::Rng;
fn main() {
    let dir = std::path::Path::new("../shared/data/sionna-dev");
    let text = std::fs::read_to_string(dir.join("index.json")).unwrap();
    let mut load = |rel: &str| Ok(std::fs::read(dir.join(rel)).unwrap());
    let maps = rme_core::io::mapset::read_mapset(&text, "i", None, &mut load).unwrap();
    for (mi, map) in maps.iter().enumerate() {
        let n = map.grid.len();
        let valid: Vec<usize> = (0..n).filter(|&v| map.is_valid_voxel(v)).collect();
        let mut rng = Rng::new(mi as u64);
        let k = (0.01 * valid.len() as f64).round() as usize;
        let picked = rng.choose_indices(valid.len(), k);
        let s: Vec<Sample> = picked.iter().map(|&i| { let q = map.voxel_point(valid[i]); Sample { x: q.x_m, y: q.y_m, value: map.values[valid[i]] as f64 } }).collect();
        let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
        let kr = Kriging::ordinary();
        let v = kr.variogram_for(&ctx, &s).unwrap();
        let qs: Vec<[f64;2]> = valid.iter().map(|&c| { let q = map.voxel_point(c); [q.x_m, q.y_m] }).collect();
        let (m, _) = kr.estimate_slice(&ctx, &s, &qs).unwrap();
        let worst = m.iter().zip(&valid).map(|(e, &c)| (e - map.values[c] as f64).abs()).fold(0.0, f64::max);
        println!("{} n={} {:?} worst={worst:.1}", map.id, s.len(), v);
    }
}
