//! A Manhattan road network and vehicles that drive on it. Vehicles keep their speed, go
//! straight or turn at intersections at random, and make a U-turn at the region's edge, so
//! they stay inside the region however long they drive.

use crate::rng::Rng;

/// Straight roads across a `width × height` region (local coordinates from 0).
#[derive(Clone, Debug, PartialEq)]
pub struct RoadNetwork {
    /// Region width (x), metres.
    pub width_m: f64,
    /// Region height (y), metres.
    pub height_m: f64,
    /// x of each north–south road.
    pub verticals: Vec<f64>,
    /// y of each east–west road.
    pub horizontals: Vec<f64>,
}

impl RoadNetwork {
    /// Random roads with spacing drawn in `[min_gap, 2·min_gap]`, at least one each way.
    pub fn random(rng: &mut Rng, width_m: f64, height_m: f64, min_gap_m: f64) -> Self {
        let mut axis = |len: f64| {
            let mut v = Vec::new();
            let mut pos = rng.range(0.15, 0.6) * min_gap_m;
            while pos < len - 0.15 * min_gap_m {
                v.push(pos);
                pos += rng.range(min_gap_m, 2.0 * min_gap_m);
            }
            if v.is_empty() {
                v.push(len / 2.0);
            }
            v
        };
        let verticals = axis(width_m);
        let horizontals = axis(height_m);
        Self { width_m, height_m, verticals, horizontals }
    }
}

/// A vehicle on the network.
#[derive(Clone, Debug, PartialEq)]
pub struct Vehicle {
    /// Driving along a north–south road (x fixed) or an east–west one (y fixed).
    pub on_vertical: bool,
    /// Index of the road it drives on.
    pub road: usize,
    /// Coordinate along the road (y on a vertical road, x on a horizontal one).
    pub along_m: f64,
    /// +1 or −1.
    pub direction: f64,
    /// Speed, m/s.
    pub speed_m_s: f64,
}

impl Vehicle {
    /// A vehicle at a random place of a random road, with a random speed in `speed_range`.
    pub fn random(rng: &mut Rng, net: &RoadNetwork, speed_range: (f64, f64)) -> Self {
        let on_vertical = rng.bernoulli(0.5);
        let (road, len) =
            if on_vertical { (rng.below(net.verticals.len()), net.height_m) } else { (rng.below(net.horizontals.len()), net.width_m) };
        Self {
            on_vertical,
            road,
            along_m: rng.range(0.0, len),
            direction: if rng.bernoulli(0.5) { 1.0 } else { -1.0 },
            speed_m_s: rng.range(speed_range.0, speed_range.1),
        }
    }

    /// Position `[x, y]` in the network's local frame.
    pub fn position(&self, net: &RoadNetwork) -> [f64; 2] {
        if self.on_vertical { [net.verticals[self.road], self.along_m] } else { [self.along_m, net.horizontals[self.road]] }
    }

    /// Drives for `seconds`; returns the distance travelled.
    pub fn drive(&mut self, net: &RoadNetwork, rng: &mut Rng, seconds: f64) -> f64 {
        let total = self.speed_m_s * seconds;
        let mut remaining = total;
        // Bounded: each iteration reaches a stop at least a road gap away or finishes.
        for _ in 0..10_000 {
            if remaining <= 0.0 {
                break;
            }
            let (len, crossings) = if self.on_vertical { (net.height_m, &net.horizontals) } else { (net.width_m, &net.verticals) };
            let eps = 1e-9;
            // Next stop ahead: a crossing road or the region's edge.
            let mut stop = if self.direction > 0.0 { len } else { 0.0 };
            let mut crossing = None;
            for (i, &c) in crossings.iter().enumerate() {
                let ahead = (c - self.along_m) * self.direction;
                if ahead > eps && ahead < (stop - self.along_m) * self.direction {
                    stop = c;
                    crossing = Some(i);
                }
            }
            let gap = (stop - self.along_m).abs();
            if gap >= remaining {
                self.along_m += self.direction * remaining;
                remaining = 0.0;
                break;
            }
            self.along_m = stop;
            remaining -= gap;
            match crossing {
                None => self.direction = -self.direction, // the edge: U-turn
                Some(i) => {
                    let u = rng.uniform();
                    if u >= 0.5 {
                        // Turn left or right onto the crossing road.
                        let here = if self.on_vertical { net.verticals[self.road] } else { net.horizontals[self.road] };
                        self.on_vertical = !self.on_vertical;
                        self.road = i;
                        self.along_m = here;
                        self.direction = if u >= 0.75 { 1.0 } else { -1.0 };
                    } else {
                        // Straight on: step past the crossing so it is not found again.
                        self.along_m += self.direction * eps * 2.0;
                    }
                }
            }
        }
        total - remaining.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vehicles_stay_on_roads_inside_the_region() {
        let mut rng = Rng::new(5);
        let net = RoadNetwork::random(&mut rng, 256.0, 256.0, 40.0);
        for _ in 0..20 {
            let mut v = Vehicle::random(&mut rng, &net, (10.0, 15.0));
            for _ in 0..100 {
                let d = v.drive(&net, &mut rng, 6.0);
                assert!((d - v.speed_m_s * 6.0).abs() < 1e-6);
                let [x, y] = v.position(&net);
                assert!((-1e-6..=256.0 + 1e-6).contains(&x) && (-1e-6..=256.0 + 1e-6).contains(&y));
                let on_road =
                    net.verticals.iter().any(|&rx| (rx - x).abs() < 1e-6) || net.horizontals.iter().any(|&ry| (ry - y).abs() < 1e-6);
                assert!(on_road, "({x}, {y}) is off the roads");
            }
        }
    }
}
