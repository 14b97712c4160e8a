//! Builders of hostile inputs — deep nesting, inflation bombs, giant text — for the tests of
//! this crate and the server's hostile-files suite. Made on demand, never committed.
//!
//! The bombs are written without inflating anything: one deflate block of a chunk, fully
//! flushed (so it stands alone), is repeated, so a 1.5 GiB part costs ~1.5 MB and ~1 s here.

use std::io::{Cursor, Write};

use flate2::{Compress, Compression, FlushCompress};

/// `<html><body>` then `depth` nested `<tag>` elements around one word, all closed.
/// 200,000 `span`s make the 2.6 MB file of the issue.
pub fn nested_html(tag: &str, depth: usize) -> Vec<u8> {
    let mut out = String::with_capacity(depth * (2 * tag.len() + 5) + 64);
    out.push_str("<!doctype html><html><body>");
    for _ in 0..depth {
        out.push('<');
        out.push_str(tag);
        out.push('>');
    }
    out.push_str("deep");
    for _ in 0..depth {
        out.push_str("</");
        out.push_str(tag);
        out.push('>');
    }
    out.push_str("</body></html>");
    out.into_bytes()
}

/// A paragraph holding `open` unclosed `<b id=N>` elements, then `paragraphs` more `<p>`s:
/// each `<p>` closes the one before (and the `<b>`s in it), and the tree builder re-opens
/// every one of them around the next text, so the tree grows as `open × paragraphs` from a
/// file that grows as their sum.
pub fn html_formatting_bomb(open: usize, paragraphs: usize) -> Vec<u8> {
    let mut out = String::from("<!doctype html><html><body><p>");
    for i in 0..open {
        out.push_str(&format!("<b id={i}>"));
    }
    for _ in 0..paragraphs {
        out.push_str("<p>x");
    }
    out.into_bytes()
}

/// `depth` nested blockquotes on one line (`> > > … deep`): 50,000 make the issue's 100 KB.
pub fn nested_markdown_quotes(depth: usize) -> Vec<u8> {
    let mut out = "> ".repeat(depth);
    out.push_str("deep\n");
    out.into_bytes()
}

/// A list nested `depth` levels by indentation, two spaces per level.
pub fn nested_markdown_list(depth: usize) -> Vec<u8> {
    let mut out = String::new();
    for level in 0..depth {
        out.push_str(&" ".repeat(level * 2));
        out.push_str(&format!("- item {level}\n"));
    }
    out.into_bytes()
}

/// `depth` nested JSON arrays: `[[[…]]]`.
pub fn nested_json(depth: usize) -> Vec<u8> {
    let mut out = "[".repeat(depth);
    out.push_str(&"]".repeat(depth));
    out.into_bytes()
}

/// One record whose ignored field holds `depth` nested arrays.
pub fn nested_json_in_record(depth: usize) -> Vec<u8> {
    let mut out = r#"{"text": "a", "extra": "#.to_string();
    out.push_str(&"[".repeat(depth));
    out.push_str(&"]".repeat(depth));
    out.push('}');
    out.into_bytes()
}

/// `records` JSON Lines records of one short text each.
pub fn many_jsonl_records(records: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(records * 14);
    for _ in 0..records {
        out.extend_from_slice(b"{\"text\":\"a\"}\n");
    }
    out
}

/// One line of `bytes` letters, no space or newline anywhere.
pub fn giant_line(bytes: usize) -> Vec<u8> {
    vec![b'a'; bytes]
}

/// A DOCX whose `word/document.xml` inflates to `inflated` bytes (rounded up to whole
/// 1 MiB chunks of paragraphs), while the file stays about a thousandth of that.
pub fn docx_bomb(inflated: u64) -> Vec<u8> {
    docx_bomb_declaring(inflated, None)
}

/// [`docx_bomb`] whose zip headers declare `declared` inflated bytes instead of the truth,
/// so a reader that trusts them is fooled.
pub fn docx_bomb_declaring(inflated: u64, declared: Option<u64>) -> Vec<u8> {
    const HEAD: &[u8] = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>"#;
    const TAIL: &[u8] = b"</w:body></w:document>";
    // Long runs of one letter inflate about 1,000-fold, the most deflate allows.
    let mut unit = b"<w:p><w:r><w:t>".to_vec();
    unit.extend_from_slice(&[b'a'; 16_000]);
    unit.extend_from_slice(b"</w:t></w:r></w:p>");
    let chunk = repeated_chunk(&unit);
    let chunks = inflated.div_ceil(chunk.len() as u64);
    let (deflated, crc, size) = deflate_repeated(HEAD, &chunk, chunks, TAIL);
    let mut zip = RawZip::default();
    zip.stored(
        "[Content_Types].xml",
        crate::fixtures::CONTENT_TYPES.as_bytes(),
    );
    zip.deflated(
        "word/document.xml",
        &deflated,
        crc,
        declared.unwrap_or(size),
    );
    zip.finish()
}

/// A zip (named like a DOCX) of `entries` empty files besides a valid `word/document.xml`.
pub fn docx_many_entries(entries: usize) -> Vec<u8> {
    let mut zip = RawZip::default();
    let document = br#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>hi</w:t></w:r></w:p></w:body></w:document>"#;
    zip.stored("word/document.xml", document);
    for i in 0..entries {
        zip.stored(&format!("f{i}"), b"");
    }
    zip.finish()
}

/// A one-page PDF whose content stream inflates to `inflated` bytes (in whole 1 MiB chunks
/// of text-showing operators).
pub fn pdf_bomb(inflated: u64) -> Vec<u8> {
    let mut unit = b"BT /F1 12 Tf 72 720 Td (bomb".to_vec();
    unit.extend_from_slice(&[b' '; 16_000]);
    unit.extend_from_slice(b"bomb) Tj ET\n");
    let chunk = repeated_chunk(&unit);
    let chunks = inflated.div_ceil(chunk.len() as u64);
    let (deflated, _, _) = deflate_repeated(b"", &chunk, chunks, b"");
    // zlib framing: a header, the deflate data, the Adler-32 of the inflated bytes.
    let mut adler = Adler32::default();
    for _ in 0..chunks {
        adler.update(&chunk);
    }
    let mut stream = vec![0x78, 0x01];
    stream.extend_from_slice(&deflated);
    stream.extend_from_slice(&adler.finish().to_be_bytes());
    let mut content = b"<< /Length ".to_vec();
    content.extend_from_slice(
        format!("{} /Filter /FlateDecode >>\nstream\n", stream.len()).as_bytes(),
    );
    content.extend_from_slice(&stream);
    content.extend_from_slice(b"\nendstream");
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
           /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        content,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ])
}

/// A one-page PDF with an extra object of `depth` nested arrays.
pub fn pdf_nested_arrays(depth: usize) -> Vec<u8> {
    let mut nested = "[".repeat(depth).into_bytes();
    nested.extend_from_slice("]".repeat(depth).as_bytes());
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
        nested,
    ])
}

/// A PDF whose page tree lists `pages` pages (all the same page object, each with text).
pub fn pdf_many_pages(pages: usize) -> Vec<u8> {
    let content = b"BT /F1 12 Tf 72 720 Td (page) Tj ET";
    let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
    stream.extend_from_slice(content);
    stream.extend_from_slice(b"\nendstream");
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        Vec::new(),
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut kids = String::new();
    for i in 0..pages {
        kids.push_str(&format!("{} 0 R ", 5 + i));
        objects.push(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R \
               /Resources << /Font << /F1 4 0 R >> >> >>"
                .to_vec(),
        );
    }
    objects[1] = format!("<< /Type /Pages /Kids [{kids}] /Count {pages} >>").into_bytes();
    raw_pdf(&objects)
}

/// A PDF of the given objects (numbered from 1, object 1 the catalog) with a correct xref.
fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// `unit` repeated to just over 1 MiB.
fn repeated_chunk(unit: &[u8]) -> Vec<u8> {
    unit.repeat((1 << 20) / unit.len() + 1)
}

/// Raw deflate data of `head`, `chunk` × `times`, `tail`, with the CRC-32 and length of the
/// inflated bytes. Each chunk is compressed once and its fully flushed block repeated: a full
/// flush resets the compressor, so every copy decodes alone.
fn deflate_repeated(head: &[u8], chunk: &[u8], times: u64, tail: &[u8]) -> (Vec<u8>, u32, u64) {
    let mut compress = Compress::new(Compression::best(), false);
    let mut data = deflate_block(&mut compress, head, FlushCompress::Full);
    let repeated = deflate_block(&mut compress, chunk, FlushCompress::Full);
    let end = deflate_block(&mut compress, tail, FlushCompress::Finish);
    let mut crc = crc32fast::Hasher::new();
    crc.update(head);
    data.reserve(repeated.len() * times as usize + end.len());
    for _ in 0..times {
        data.extend_from_slice(&repeated);
        crc.update(chunk);
    }
    crc.update(tail);
    data.extend_from_slice(&end);
    let size = head.len() as u64 + chunk.len() as u64 * times + tail.len() as u64;
    (data, crc.finalize(), size)
}

/// Compresses all of `input` and then `flush`es, returning the bytes that came out.
fn deflate_block(compress: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out = Vec::new();
    let mut consumed = 0;
    loop {
        out.reserve(64 * 1024);
        let before = compress.total_in();
        compress
            .compress_vec(&input[consumed..], &mut out, flush)
            .expect("deflate into memory");
        consumed += (compress.total_in() - before) as usize;
        // Done once all input went in and the flush had room to finish.
        if consumed == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

#[derive(Default)]
struct Adler32 {
    a: u32,
    b: u32,
    started: bool,
}

impl Adler32 {
    fn update(&mut self, data: &[u8]) {
        if !self.started {
            self.a = 1;
            self.started = true;
        }
        // 5552 is the most bytes whose sums cannot overflow a u32 before the modulo.
        for block in data.chunks(5552) {
            for &byte in block {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= 65_521;
            self.b %= 65_521;
        }
    }

    fn finish(&self) -> u32 {
        (self.b << 16) | if self.started { self.a } else { 1 }
    }
}

/// A zip written by hand, so an entry can carry deflate data made elsewhere (the zip crate
/// compresses what it is given and would have to inflate the bomb first).
#[derive(Default)]
struct RawZip {
    out: Cursor<Vec<u8>>,
    central: Vec<u8>,
    entries: u16,
}

impl RawZip {
    fn stored(&mut self, name: &str, data: &[u8]) {
        let crc = crc32fast::hash(data);
        self.entry(name, 0, data, crc, data.len() as u64);
    }

    fn deflated(&mut self, name: &str, data: &[u8], crc: u32, size: u64) {
        self.entry(name, 8, data, crc, size);
    }

    fn entry(&mut self, name: &str, method: u16, data: &[u8], crc: u32, size: u64) {
        let offset = self.out.position() as u32;
        let size = u32::try_from(size).expect("entries under 4 GiB");
        let compressed = u32::try_from(data.len()).expect("entries under 4 GiB");
        let fields = |w: &mut Vec<u8>| {
            w.extend_from_slice(&20u16.to_le_bytes()); // version needed
            w.extend_from_slice(&0u16.to_le_bytes()); // flags
            w.extend_from_slice(&method.to_le_bytes());
            w.extend_from_slice(&0u32.to_le_bytes()); // time, date
            w.extend_from_slice(&crc.to_le_bytes());
            w.extend_from_slice(&compressed.to_le_bytes());
            w.extend_from_slice(&size.to_le_bytes());
            w.extend_from_slice(&(name.len() as u16).to_le_bytes());
            w.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        let mut local = b"PK\x03\x04".to_vec();
        fields(&mut local);
        local.extend_from_slice(name.as_bytes());
        self.out.write_all(&local).expect("write to memory");
        self.out.write_all(data).expect("write to memory");

        self.central.extend_from_slice(b"PK\x01\x02");
        self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fields(&mut self.central);
        self.central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        self.entries = self.entries.saturating_add(1);
    }

    fn finish(mut self) -> Vec<u8> {
        let start = self.out.position() as u32;
        let central = std::mem::take(&mut self.central);
        self.out.write_all(&central).expect("write to memory");
        let mut end = b"PK\x05\x06".to_vec();
        end.extend_from_slice(&[0; 4]); // disk numbers
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&self.entries.to_le_bytes());
        end.extend_from_slice(&(central.len() as u32).to_le_bytes());
        end.extend_from_slice(&start.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.out.write_all(&end).expect("write to memory");
        self.out.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn adler32_matches_known_value() {
        let mut a = Adler32::default();
        a.update(b"Wikipedia");
        assert_eq!(a.finish(), 0x11E6_0398);
    }

    #[test]
    fn small_docx_bomb_is_a_valid_zip_that_inflates_to_its_size() {
        let bytes = docx_bomb(3 << 20);
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
        let mut xml = Vec::new();
        archive
            .by_name("word/document.xml")
            .unwrap()
            .read_to_end(&mut xml)
            .unwrap();
        assert!(xml.len() >= 3 << 20, "{}", xml.len());
        assert!(xml.ends_with(b"</w:document>"));
        assert!(bytes.len() < xml.len() / 100, "{} bytes", bytes.len());
    }
}
