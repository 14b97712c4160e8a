//! PDF text extraction with lopdf, one section per page so chunks can cite page numbers.
//! Scanned PDFs have no text layer; they are rejected rather than indexed as empty.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, Object, ObjectId, Reader};

use super::{Format, Limit, ParseError, ParseLimits, ParsedDocument, Section};

pub(crate) fn parse_pdf(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    // lopdf panics on some malformed files; an upload must not take a worker down with it.
    catch_unwind(AssertUnwindSafe(|| extract(bytes, limits)))
        .unwrap_or_else(|_| Err(ParseError::Pdf("the file is malformed".into())))
}

/// The per-document budget the load filter draws on. lopdf's filter is a plain `fn` (no
/// captured state), and lopdf (built without `rayon`) loads objects on the calling thread,
/// so the budget lives in a thread-local for the duration of one `load`.
struct LoadBudget {
    max_depth: usize,
    inflated_left: u64,
    objects_left: usize,
    breach: Option<Limit>,
}

thread_local! {
    static BUDGET: RefCell<Option<LoadBudget>> = const { RefCell::new(None) };
}

/// Loads the document with every stream inflated by us, under the budget, before lopdf
/// sees it: lopdf inflates with no bound (`Stream::decompressed_content`) wherever it reads
/// a stream, but never touches a stream that has no `/Filter` left.
///
/// Not reachable from outside lopdf: the cross-reference stream (inflated while the file's
/// index is read, before any object) and every object of an encrypted file (lopdf's
/// encrypted path skips the filter). Those rely on the isolated parser process's memory limit.
fn load(bytes: &[u8], limits: &ParseLimits) -> Result<Document, ParseError> {
    if nesting_exceeds(bytes, limits.max_depth) {
        return Err(depth_limit(limits));
    }
    BUDGET.with_borrow_mut(|b| {
        *b = Some(LoadBudget {
            max_depth: limits.max_depth,
            inflated_left: limits.max_inflated_bytes,
            objects_left: limits.max_elements,
            breach: None,
        })
    });
    let reader = Reader {
        buffer: bytes,
        document: Document::new(),
        encryption_state: None,
        raw_objects: BTreeMap::new(),
    };
    let loaded = reader.read(Some(bound_object));
    let budget = BUDGET.with_borrow_mut(Option::take).expect("set above");
    match budget.breach {
        Some(Limit::MaxElements) => {
            Err(ParseError::limit("PDF objects", Limit::MaxElements, limits))
        }
        Some(Limit::MaxDepth) => Err(depth_limit(limits)),
        Some(limit) => Err(ParseError::limit("PDF inflated stream size", limit, limits)),
        None => loaded.map_err(|e| ParseError::Pdf(e.to_string())),
    }
}

/// lopdf's load filter: counts objects, drops image data (never text), and inflates every
/// other stream under the budget. Returning `None` drops the object; after a breach every
/// object is dropped so the load ends fast.
fn bound_object(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    BUDGET.with_borrow_mut(|budget| {
        let budget = budget.as_mut()?;
        if budget.breach.is_some() {
            return None;
        }
        if budget.objects_left == 0 {
            budget.breach = Some(Limit::MaxElements);
            return None;
        }
        budget.objects_left -= 1;
        if let Object::Stream(stream) = object {
            let is_image = stream
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Image");
            let filters: Vec<Vec<u8>> = match stream.filters() {
                Ok(filters) => filters.into_iter().map(<[u8]>::to_vec).collect(),
                Err(_) => Vec::new(),
            };
            if is_image {
                stream.set_plain_content(Vec::new());
            } else if !filters.is_empty() {
                let params = stream
                    .dict
                    .get(b"DecodeParms")
                    .and_then(Object::as_dict)
                    .ok()
                    .cloned();
                match inflate(
                    &stream.content,
                    &filters,
                    params.as_ref(),
                    &mut budget.inflated_left,
                ) {
                    // Content streams and object streams are parsed by lopdf's recursive
                    // parser too, so their nesting is checked like the file's.
                    Inflated::Done(plain) if nesting_exceeds(&plain, budget.max_depth) => {
                        budget.breach = Some(Limit::MaxDepth);
                        return None;
                    }
                    Inflated::Done(plain) => stream.set_plain_content(plain),
                    // lopdf could not decode it either: it is not text we could read.
                    Inflated::Unsupported => stream.set_plain_content(Vec::new()),
                    Inflated::OverBudget => {
                        budget.breach = Some(Limit::MaxInflatedBytes);
                        return None;
                    }
                }
            }
        }
        // lopdf keeps `object` itself for top-level objects and uses the returned copy only
        // for objects inside object streams, where the spec allows no streams: a stream is
        // never copied, a (small) object is.
        match object {
            Object::Stream(_) => Some((id, Object::Null)),
            other => Some((id, other.clone())),
        }
    })
}

fn depth_limit(limits: &ParseLimits) -> ParseError {
    ParseError::limit("PDF object nesting depth", Limit::MaxDepth, limits)
}

/// True when arrays and dictionaries nest deeper than `max` somewhere in `pdf`: lopdf parses
/// them by recursion without a limit, so a file of 200,000 `[` would overflow the stack.
/// One pass over PDF syntax: literal strings, hex strings and comments are skipped, and so
/// is stream data (from `stream` to `endstream`), which is binary.
pub(crate) fn nesting_exceeds(pdf: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut i = 0;
    while i < pdf.len() {
        match pdf[i] {
            b'[' => depth += 1,
            b'<' if pdf.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b']' => depth = depth.saturating_sub(1),
            b'>' if pdf.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            // A hex string.
            b'<' => {
                i += pdf[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .unwrap_or(pdf.len())
            }
            b'%' => {
                i += pdf[i..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .unwrap_or(pdf.len())
            }
            b'(' => i = skip_literal_string(pdf, i),
            b's' if pdf[i..].starts_with(b"stream") && !pdf[..i].ends_with(b"end") => {
                let data = i + b"stream".len();
                i = find(&pdf[data..], b"endstream").map_or(pdf.len(), |at| data + at + 9);
                continue;
            }
            _ => {}
        }
        if depth > max {
            return true;
        }
        i += 1;
    }
    false
}

/// Index of the `)` closing the literal string opened at `open` (strings nest; `\\` escapes).
fn skip_literal_string(pdf: &[u8], open: usize) -> usize {
    let mut level = 0usize;
    let mut i = open;
    while i < pdf.len() {
        match pdf[i] {
            b'\\' => i += 1,
            b'(' => level += 1,
            b')' => {
                level -= 1;
                if level == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    pdf.len()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

enum Inflated {
    Done(Vec<u8>),
    Unsupported,
    OverBudget,
}

/// Applies a stream's filters in order (as lopdf does: Flate, LZW, ASCII85, with the PNG
/// predictors), each step drawing its output on `left`. Corrupt data keeps what decoded
/// before the error, as lopdf does.
fn inflate(
    content: &[u8],
    filters: &[Vec<u8>],
    params: Option<&lopdf::Dictionary>,
    left: &mut u64,
) -> Inflated {
    let mut data = content.to_vec();
    for filter in filters {
        let mut out = Vec::new();
        match filter.as_slice() {
            b"FlateDecode" | b"Fl" => {
                let decoder = flate2::read::ZlibDecoder::new(data.as_slice());
                // Keep what came out before a corrupt tail, like lopdf.
                let _ = decoder.take(*left + 1).read_to_end(&mut out);
            }
            b"LZWDecode" | b"LZW" => {
                if lzw(&data, params, *left + 1, &mut out).is_err() {
                    return Inflated::Unsupported;
                }
            }
            b"ASCII85Decode" | b"A85" => out = ascii85(&data),
            _ => return Inflated::Unsupported,
        }
        if out.len() as u64 > *left {
            return Inflated::OverBudget;
        }
        *left -= out.len() as u64;
        if matches!(
            filter.as_slice(),
            b"FlateDecode" | b"Fl" | b"LZWDecode" | b"LZW"
        ) {
            out = predict(out, params);
        }
        data = out;
    }
    Inflated::Done(data)
}

/// LZW with lopdf's settings (MSB, 8-bit codes, early change unless `/EarlyChange 0`),
/// stopping once `max` bytes came out.
fn lzw(
    input: &[u8],
    params: Option<&lopdf::Dictionary>,
    max: u64,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    use weezl::{decode::Decoder, BitOrder, LzwStatus};
    let early_change = params
        .and_then(|p| p.get(b"EarlyChange").ok())
        .and_then(|v| v.as_i64().ok())
        .is_none_or(|v| v != 0);
    let mut decoder = if early_change {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Decoder::new(BitOrder::Msb, 8)
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = input;
    loop {
        let result = decoder.decode_bytes(input, &mut buf);
        input = &input[result.consumed_in..];
        out.extend_from_slice(&buf[..result.consumed_out]);
        if out.len() as u64 >= max {
            return Ok(());
        }
        match result.status {
            Ok(LzwStatus::Ok) if result.consumed_in == 0 && result.consumed_out == 0 => {
                return Ok(())
            }
            Ok(LzwStatus::Ok) => {}
            // The end code, or the end of the data: what came out is the stream.
            Ok(LzwStatus::Done) | Ok(LzwStatus::NoProgress) | Err(_) => return Ok(()),
        }
    }
}

/// ASCII85 (`~>`-terminated); its output is at most 4 bytes per input byte.
fn ascii85(input: &[u8]) -> Vec<u8> {
    let input = input.strip_suffix(b"~>").unwrap_or(input);
    let mut out = Vec::with_capacity(input.len());
    let mut group = 0u64;
    let mut count = 0;
    for &c in input {
        match c {
            b'z' if count == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group = group * 85 + u64::from(c - b'!');
                count += 1;
                if count == 5 {
                    out.extend_from_slice(&(group as u32).to_be_bytes());
                    group = 0;
                    count = 0;
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => break,
        }
    }
    if count > 1 {
        for _ in count..5 {
            group = group * 85 + 84;
        }
        out.extend_from_slice(&(group as u32).to_be_bytes()[..count - 1]);
    }
    out
}

/// The PNG predictors (10–15) lopdf applies after Flate and LZW; their output is never
/// larger than their input.
fn predict(data: Vec<u8>, params: Option<&lopdf::Dictionary>) -> Vec<u8> {
    let Some(params) = params else { return data };
    let get =
        |key: &[u8], default: i64| params.get(key).and_then(Object::as_i64).unwrap_or(default);
    if !(10..=15).contains(&get(b"Predictor", 1)) {
        return data;
    }
    let columns = get(b"Columns", 1).clamp(1, 1 << 20) as usize;
    let colors = get(b"Colors", 1).clamp(1, 32) as usize;
    let bits = get(b"BitsPerComponent", 8).clamp(8, 16) as usize;
    lopdf::filters::png::decode_frame(&data, colors * bits / 8, columns).unwrap_or(data)
}

fn extract(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    let doc = load(bytes, limits)?;
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err(ParseError::Pdf(
            "it is password-protected; upload an unencrypted copy".into(),
        ));
    }
    let pages = doc.get_pages();
    if pages.len() > limits.max_pages {
        return Err(ParseError::limit("PDF pages", Limit::MaxPages, limits));
    }
    let mut sections = Vec::new();
    let mut text_bytes = 0usize;
    for page in pages.into_keys() {
        let mut text = String::new();
        for fragment in doc.extract_text_chunks(&[page]) {
            match fragment {
                Ok(fragment) => text.push_str(&fragment),
                // One undecodable font should not lose the rest of the page.
                Err(e) => tracing::debug!(page, error = %e, "skipping PDF text fragment"),
            }
        }
        let text = tidy(&text);
        text_bytes += text.len();
        if text_bytes > limits.max_text_bytes {
            return Err(super::text_limit(Format::Pdf, limits));
        }
        if !text.is_empty() {
            sections.push(Section {
                text,
                page: Some(page),
            });
        }
    }
    if sections.is_empty() {
        return Err(ParseError::PdfNoText);
    }
    Ok(ParsedDocument {
        title: info_title(&doc),
        format: Format::Pdf,
        structured: false,
        sections,
    })
}

/// Trims each line and collapses runs of blank lines, which text layers are full of.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    out
}

/// `/Title` of the document information dictionary.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(dict) => dict,
        _ => return None,
    };
    match info.get(b"Title").ok()? {
        Object::String(bytes, _) => Some(decode_text_string(bytes)),
        _ => None,
    }
}

/// PDF text strings are UTF-16BE with a BOM, or PDFDocEncoding (Latin-1 for our purposes).
fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    bytes.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_pdf_is_an_error() {
        let err = parse_pdf(b"%PDF-1.4 garbage", &ParseLimits::default()).unwrap_err();
        assert!(matches!(err, ParseError::Pdf(_)), "{err:?}");
    }

    #[test]
    fn nesting_skips_strings_comments_and_streams() {
        assert!(!nesting_exceeds(b"[[ ]] << /A [ ] >>", 2));
        assert!(nesting_exceeds(b"[[[ ]]]", 2));
        assert!(nesting_exceeds(b"<< /A << /B [ ] >> >>", 2));
        let quiet = b"(([[[[) \\) [[[[) % [[[[\n<5B5B5B> stream\n[[[[[[\nendstream [";
        assert!(
            !nesting_exceeds(quiet, 1),
            "{}",
            String::from_utf8_lossy(quiet)
        );
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("  a \n\n\n b\nc\n\n"), "a\n\nb\nc");
    }

    #[test]
    fn utf16_title() {
        assert_eq!(decode_text_string(b"\xFE\xFF\0H\0i"), "Hi");
    }
}
