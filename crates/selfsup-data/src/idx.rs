//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic `0x0000_08NN`, where 08
//! means unsigned bytes and NN the number of dimensions, then one u32 per dimension) followed by
//! the raw bytes. Files may be gzip-compressed; we detect that from the content, not the name.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::{DataError, Result};

const UNSIGNED_BYTE: u32 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// No real IDX file is larger than this; a header that claims more is corrupt.
const MAX_PAYLOAD: u64 = 1 << 36;

pub const IMAGES_MAGIC: u32 = (UNSIGNED_BYTE << 8) | 3;
pub const LABELS_MAGIC: u32 = (UNSIGNED_BYTE << 8) | 1;

/// Images of an IDX3 file: `count` images of `rows x cols` u8 pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(open(path)?, path)
}

pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(open(path)?, path)
}

/// An IDX3 image file from any reader (gzipped or not); `path` only names it in errors.
pub fn parse_images(reader: impl Read, path: &Path) -> Result<IdxImages> {
    let (dims, pixels) = parse_idx(reader, path, IMAGES_MAGIC, "images")?;
    Ok(IdxImages {
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels,
    })
}

/// An IDX1 label file from any reader (gzipped or not); `path` only names it in errors.
pub fn parse_labels(reader: impl Read, path: &Path) -> Result<Vec<u8>> {
    Ok(parse_idx(reader, path, LABELS_MAGIC, "labels")?.1)
}

fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            hint: String::new(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    Ok(BufReader::new(file))
}

fn parse_idx(
    mut reader: impl Read,
    path: &Path,
    magic: u32,
    kind: &'static str,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut first = [0u8; 2];
    let peeked = read_up_to(&mut reader, &mut first).map_err(io)?;
    let head = std::io::Cursor::new(first[..peeked].to_vec());
    let mut stream: Box<dyn Read + '_> = if peeked == 2 && first == GZIP_MAGIC {
        Box::new(MultiGzDecoder::new(head.chain(reader)))
    } else {
        Box::new(head.chain(reader))
    };

    let truncated = |expected: u64, found: u64| DataError::Truncated {
        path: path.to_path_buf(),
        expected,
        found,
    };
    let found_magic = read_u32(&mut stream)
        .map_err(io)?
        .ok_or_else(|| truncated(4, 0))?;
    if found_magic != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: found_magic,
            expected: magic,
            kind,
        });
    }
    let ndims = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(ndims);
    for _ in 0..ndims {
        let dim = read_u32(&mut stream)
            .map_err(io)?
            .ok_or_else(|| truncated(4 * ndims as u64, 4 * dims.len() as u64))?;
        dims.push(dim as usize);
    }
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= MAX_PAYLOAD)
        .ok_or_else(|| DataError::BadHeader {
            path: path.to_path_buf(),
            reason: format!("dimensions {dims:?} describe an impossibly large payload"),
        })?;

    // Grow with the data actually present instead of trusting the header's size, so a corrupt
    // header cannot make us allocate gigabytes.
    let mut payload = Vec::new();
    let got = (&mut stream)
        .take(expected)
        .read_to_end(&mut payload)
        .map_err(io)? as u64;
    if got < expected {
        return Err(truncated(expected, got));
    }
    let mut extra = [0u8; 1];
    if read_up_to(&mut stream, &mut extra).map_err(io)? > 0 {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok((dims, payload))
}

/// Like `read_exact`, but reports how many bytes were there instead of failing at end of file.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_u32(reader: &mut impl Read) -> std::io::Result<Option<u32>> {
    let mut bytes = [0u8; 4];
    Ok((read_up_to(reader, &mut bytes)? == 4).then(|| u32::from_be_bytes(bytes)))
}

/// Writes an IDX3 image file (raw, uncompressed). Used by tests and tools to produce fixtures.
pub fn write_images(writer: &mut impl Write, images: &IdxImages) -> std::io::Result<()> {
    writer.write_all(&IMAGES_MAGIC.to_be_bytes())?;
    for dim in [images.count, images.rows, images.cols] {
        writer.write_all(&(dim as u32).to_be_bytes())?;
    }
    writer.write_all(&images.pixels)
}

/// Writes an IDX1 label file (raw, uncompressed).
pub fn write_labels(writer: &mut impl Write, labels: &[u8]) -> std::io::Result<()> {
    writer.write_all(&LABELS_MAGIC.to_be_bytes())?;
    writer.write_all(&(labels.len() as u32).to_be_bytes())?;
    writer.write_all(labels)
}
