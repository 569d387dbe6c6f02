//! NumPy `.npy` format 1.0/2.0/3.0 reader and 1.0 writer (C order), from and to bytes.
//! Reads float32 and float64 (either byte order), uint8 and bool arrays; every malformed
//! header or short payload is an error naming the file.
//!
//! Arrays are returned as float32, the maps' storage type (7 significant digits: ample for
//! values in dB). A float64 array is converted value by value, and a finite value that does
//! not fit float32 (|v| > 3.4·10³⁸) is an error naming the file and the element — never a
//! silent infinity. [`NpyArray::dtype`] keeps the stored type, so callers can tell.
//! (A reader of our own rather than the `npyz` crate: this is the whole of the format the
//! project needs, it has no dependencies, and every error names the file.)

use crate::error::{Result, RmeError};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An array read from a `.npy` file, converted to `f32` (uint8/bool as 0/1…).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
    /// The stored dtype descriptor ("<f4", "|u1", …).
    pub dtype: String,
}

fn err(name: &str, msg: impl Into<String>) -> RmeError {
    RmeError::parse(name, None, msg)
}

/// Parses a `.npy` file; `name` is used in errors.
pub fn read_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err(name, "not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err(name, "truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(err(name, format!("unsupported .npy version {v}"))),
    };
    let header_end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or_else(|| err(name, "truncated header"))?;
    let header = std::str::from_utf8(&bytes[start..header_end]).map_err(|_| err(name, "header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| err(name, "header has no 'descr'"))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| err(name, "header has no 'fortran_order'"))?;
    if fortran.trim().starts_with("True") {
        return Err(err(name, "Fortran-ordered arrays are not supported (save with C order)"));
    }
    let shape_txt = dict_value(header, "shape").ok_or_else(|| err(name, "header has no 'shape'"))?;
    let inner = shape_txt.trim().trim_start_matches('(').trim_end_matches(|c: char| c == ')' || c.is_whitespace());
    let shape: Vec<usize> = inner
        .split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| err(name, format!("bad shape entry '{s}'"))))
        .collect::<Result<_>>()?;
    let count = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b)).ok_or_else(|| err(name, "shape overflows"))?;
    let payload = &bytes[header_end..];
    let (size, convert): (usize, fn(&[u8]) -> f64) = match descr.as_str() {
        "<f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        ">f4" => (4, |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64),
        "<f8" => (8, |b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        ">f8" => (8, |b| f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        "|u1" | "<u1" | "u1" => (1, |b| b[0] as f64),
        "|b1" | "<b1" | "b1" => (1, |b| if b[0] != 0 { 1.0 } else { 0.0 }),
        other => return Err(err(name, format!("unsupported dtype '{other}' (use float32, float64, uint8 or bool)"))),
    };
    let needed = count.checked_mul(size).ok_or_else(|| err(name, "size overflows"))?;
    if payload.len() < needed {
        return Err(err(name, format!("truncated data: {} bytes for shape {shape:?} of {descr} ({needed} needed)", payload.len())));
    }
    let mut data = Vec::with_capacity(count);
    for (i, bytes) in payload[..needed].chunks_exact(size).enumerate() {
        let wide = convert(bytes);
        let narrow = wide as f32;
        if wide.is_finite() && !narrow.is_finite() {
            return Err(err(name, format!("element {i} is {wide:e}, outside the float32 range the maps are stored in")));
        }
        data.push(narrow);
    }
    Ok(NpyArray { shape, data, dtype: descr })
}

/// Finds `'key': value` in the header dict; returns the value text up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}':");
    let pat2 = format!("\"{key}\":");
    let pos = header.find(&pat1).map(|p| p + pat1.len()).or_else(|| header.find(&pat2).map(|p| p + pat2.len()))?;
    let rest = &header[pos..];
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

fn write_with(shape: &[usize], descr: &str, payload: &[u8]) -> Vec<u8> {
    let shape_txt = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Pad so that the payload starts on a multiple of 64 bytes, header ending in '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Writes a float32 array.
pub fn write_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let payload: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_with(shape, "<f4", &payload)
}

/// Writes a uint8 array.
pub fn write_npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
    write_with(shape, "|u1", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_f32_and_u8() {
        let d = vec![1.5f32, f32::NAN, -3.0, 4.0, 5.0, 6.0];
        let bytes = write_npy_f32(&[2, 3], &d);
        assert_eq!((bytes.len() - d.len() * 4) % 64, 0);
        let a = read_npy(&bytes, "x.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data[0], 1.5);
        assert!(a.data[1].is_nan());
        let b = read_npy(&write_npy_u8(&[4], &[0, 1, 1, 0]), "b.npy").unwrap();
        assert_eq!(b.data, vec![0.0, 1.0, 1.0, 0.0]);
    }

    /// float64 (either byte order) reads value by value; a value float32 cannot hold is an
    /// error naming the file and element, not an infinity.
    #[test]
    fn float64_is_converted_checked() {
        let payload: Vec<u8> = [1.25f64, -100.5, f64::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = read_npy(&write_with(&[3], "<f8", &payload), "d.npy").unwrap();
        assert_eq!((a.data[0], a.data[1], a.dtype.as_str()), (1.25, -100.5, "<f8"));
        assert!(a.data[2].is_nan());
        let big: Vec<u8> = [2.0f64, 1e300].iter().flat_map(|v| v.to_be_bytes()).collect();
        let e = read_npy(&write_with(&[2], ">f8", &big), "maps/big.npy").unwrap_err().to_string();
        assert!(e.contains("maps/big.npy") && e.contains("element 1"), "{e}");
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let good = write_npy_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let truncated = &good[..good.len() - 3];
        let e = read_npy(truncated, "maps/a.npy").unwrap_err().to_string();
        assert!(e.contains("maps/a.npy") && e.contains("truncated"), "{e}");
        assert!(read_npy(b"hello world", "h.npy").is_err());
        assert!(read_npy(&good[..12], "short.npy").is_err());
        let mut bad_dtype = good.clone();
        let pos = bad_dtype.windows(3).position(|w| w == b"<f4").unwrap();
        bad_dtype[pos + 1] = b'c';
        assert!(read_npy(&bad_dtype, "c.npy").unwrap_err().to_string().contains("dtype"));
    }
}
