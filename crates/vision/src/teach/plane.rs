//! A plane of `f32` samples (grey levels) and its resampling.

/// One channel of a picture, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plane {
    /// Width in samples.
    pub width: usize,
    /// Height in samples.
    pub height: usize,
    /// `width × height` samples.
    pub data: Vec<f32>,
}

impl Plane {
    /// The plane resampled to `width × height`: area averaging when shrinking (every source
    /// sample counts, so nothing aliases), linear interpolation when enlarging.
    pub fn resized(&self, width: usize, height: usize) -> Plane {
        let width = width.max(1);
        let height = height.max(1);
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let xs = Taps::new(self.width, width);
        let ys = Taps::new(self.height, height);
        // Horizontal pass into `self.height × width`, then vertical.
        let mut rows = vec![0.0f32; self.height * width];
        for y in 0..self.height {
            let src = &self.data[y * self.width..(y + 1) * self.width];
            let dst = &mut rows[y * width..(y + 1) * width];
            for (x, out) in dst.iter_mut().enumerate() {
                *out = xs.apply(x, |i| src[i]);
            }
        }
        let mut data = vec![0.0f32; width * height];
        for y in 0..height {
            let (start, weights) = ys.of(y);
            let dst = &mut data[y * width..(y + 1) * width];
            for (k, &w) in weights.iter().enumerate() {
                let src = &rows[(start + k) * width..(start + k + 1) * width];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += w * s;
                }
            }
        }
        Plane {
            width,
            height,
            data,
        }
    }
}

/// The source samples (a first index and weights) that make each output sample of a 1-D
/// resampling.
struct Taps {
    starts: Vec<usize>,
    /// Weights of each output, `stride` of them (zero-padded).
    weights: Vec<f32>,
    stride: usize,
}

impl Taps {
    fn new(src: usize, dst: usize) -> Taps {
        let ratio = src as f64 / dst as f64;
        let mut starts = Vec::with_capacity(dst);
        let mut lists: Vec<Vec<f32>> = Vec::with_capacity(dst);
        for i in 0..dst {
            if ratio >= 1.0 {
                // Output sample i covers the source interval [i·ratio, (i+1)·ratio).
                let lo = i as f64 * ratio;
                let hi = ((i + 1) as f64 * ratio).min(src as f64);
                let first = lo.floor() as usize;
                let last = (hi.ceil() as usize).clamp(first + 1, src);
                let mut w = Vec::with_capacity(last - first);
                for j in first..last {
                    let overlap = (hi.min((j + 1) as f64) - lo.max(j as f64)).max(0.0);
                    w.push((overlap / ratio) as f32);
                }
                starts.push(first);
                lists.push(w);
            } else {
                // Sample centres aligned: output centre i+0.5 maps to source (i+0.5)·ratio.
                let pos = ((i as f64 + 0.5) * ratio - 0.5).clamp(0.0, (src - 1) as f64);
                let first = (pos.floor() as usize).min(src.saturating_sub(2));
                let frac = (pos - first as f64) as f32;
                if src == 1 {
                    starts.push(0);
                    lists.push(vec![1.0]);
                } else {
                    starts.push(first);
                    lists.push(vec![1.0 - frac, frac]);
                }
            }
        }
        let stride = lists.iter().map(Vec::len).max().unwrap_or(1);
        let mut weights = vec![0.0; stride * dst];
        for (i, w) in lists.iter().enumerate() {
            weights[i * stride..i * stride + w.len()].copy_from_slice(w);
        }
        // Zero-padded taps must not read past the source.
        for (i, start) in starts.iter_mut().enumerate() {
            let used = lists[i].len();
            if *start + stride > src {
                let shift = *start + stride - src;
                let shift = shift.min(*start);
                *start -= shift;
                let w = &mut weights[i * stride..(i + 1) * stride];
                w.copy_within(0..used, shift);
                w[..shift].fill(0.0);
            }
        }
        Taps {
            starts,
            weights,
            stride,
        }
    }

    fn of(&self, i: usize) -> (usize, &[f32]) {
        (
            self.starts[i],
            &self.weights[i * self.stride..(i + 1) * self.stride],
        )
    }

    fn apply(&self, i: usize, sample: impl Fn(usize) -> f32) -> f32 {
        let (start, weights) = self.of(i);
        weights
            .iter()
            .enumerate()
            .map(|(k, w)| w * sample(start + k))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Plane {
        Plane {
            width: w,
            height: h,
            data: (0..w * h)
                .map(|i| (i % w) as f32 + 10.0 * (i / w) as f32)
                .collect(),
        }
    }

    #[test]
    fn shrinking_averages_areas() {
        let p = Plane {
            width: 4,
            height: 2,
            data: vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0],
        };
        let half = p.resized(2, 1);
        assert_eq!(half.data, vec![5.0, 9.0]);
        // A non-integer ratio keeps the mean.
        let q = ramp(10, 7).resized(3, 2);
        let mean = |p: &Plane| p.data.iter().sum::<f32>() / p.data.len() as f32;
        assert!((mean(&q) - mean(&ramp(10, 7))).abs() < 1e-3);
    }

    #[test]
    fn enlarging_interpolates_and_keeps_constant_planes() {
        let c = Plane {
            width: 3,
            height: 3,
            data: vec![7.0; 9],
        };
        let big = c.resized(8, 5);
        assert!(big.data.iter().all(|&v| (v - 7.0).abs() < 1e-5));
        let r = ramp(4, 1).resized(8, 1);
        for pair in r.data.windows(2) {
            assert!(pair[1] >= pair[0]);
        }
        let one = Plane {
            width: 1,
            height: 1,
            data: vec![3.0],
        };
        assert_eq!(one.resized(4, 2).data, vec![3.0; 8]);
    }

    #[test]
    fn same_size_is_a_copy() {
        let p = ramp(5, 4);
        assert_eq!(p.resized(5, 4), p);
    }
}
