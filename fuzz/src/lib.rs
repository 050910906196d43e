//! What the fuzz targets share: reading their input's leading control bytes, splitting data
//! into chunks, and comparing JSON values that went through a float round trip.

use serde_json::Value;

/// A small deterministic generator (xorshift64*), so one seed from the input decides every
/// chunk length.
#[derive(Debug)]
pub struct Splitter(u64);

impl Splitter {
    /// A generator started from `seed` (zero is replaced: xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Splitter(seed | 1)
    }

    /// A number in `1..=bound` (`bound` at least 1).
    pub fn next_len(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        1 + (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }
}

/// Cuts `data` into chunks whose lengths come from `seed`: single bytes, small pieces or
/// large ones, depending on the seed's low bits.
pub fn chunks(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let max = [1, 3, 17, 200, 5000, usize::MAX][(seed % 6) as usize];
    let mut rng = Splitter::new(seed);
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.next_len(max.min(rest.len()));
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Whether two JSON values are equal, numbers compared as numbers: serde_json's default
/// float parsing may land one unit in the last place away from the original on a round
/// trip, which is not a difference a client can notice.
pub fn json_close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => ulps_apart(x, y) <= 2,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// How many representable doubles lie between `x` and `y` (both finite).
pub fn ulps_apart(x: f64, y: f64) -> u64 {
    if x.is_sign_negative() != y.is_sign_negative() {
        return if x == y { 0 } else { u64::MAX };
    }
    x.to_bits().abs_diff(y.to_bits())
}
