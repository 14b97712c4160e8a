//! HTML to Markdown-flavoured text: headings become `#` lines, blocks are blank-line separated.
//! Page chrome (scripts, styles, navigation, header, footer) is dropped so it is not indexed.

use scraper::node::Node;
use scraper::{ElementRef, Html, Selector};

use super::text::decode;
use super::{Format, ParseError, ParsedDocument, Section};

/// Elements whose content is never part of the document's text.
const SKIP: &[&str] = &[
    "head", "script", "style", "noscript", "nav", "header", "footer", "template", "svg", "iframe",
    "object", "canvas", "button", "select",
];

/// Elements that start and end a block (a blank line around them).
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "form",
    "hr",
    "html",
    "main",
    "ol",
    "p",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
    "caption",
];

pub(crate) fn parse_html(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let html = Html::parse_document(&source);
    let mut renderer = Renderer::default();
    renderer.element(html.root_element());
    renderer.flush();
    let title = select_text(&html, "title").or_else(|| renderer.first_h1.clone());
    Ok(ParsedDocument {
        title,
        format: Format::Html,
        structured: true,
        sections: vec![Section::new(renderer.blocks.join("\n\n"))],
    })
}

fn select_text(html: &Html, selector: &str) -> Option<String> {
    let selector = Selector::parse(selector).expect("static selector");
    let element = html.select(&selector).next()?;
    let text = collapse(&element.text().collect::<String>());
    (!text.is_empty()).then_some(text)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Renderer {
    blocks: Vec<String>,
    /// Text of the block being built; whitespace already collapsed, `\n` only from `<br>`.
    inline: String,
    /// One entry per open list: `None` for `<ul>`, the next number for `<ol>`.
    lists: Vec<Option<usize>>,
    first_h1: Option<String>,
    /// List marker of the current `<li>`, written before its first text so an item holding
    /// only a nested list leaves no bare `-` behind.
    marker: Option<String>,
}

impl Renderer {
    fn element(&mut self, element: ElementRef<'_>) {
        let el = element.value();
        let name = el.name();
        if SKIP.contains(&name) || el.attr("hidden").is_some() {
            return;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => self.heading(element, name),
            "pre" => {
                self.flush();
                let code: String = element.text().collect();
                let code = code.trim_matches('\n');
                if !code.trim().is_empty() {
                    self.blocks.push(format!("```\n{code}\n```"));
                }
            }
            "br" => self.inline.push('\n'),
            "li" => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "- ".to_string(),
                };
                self.marker = Some(marker);
                self.children(element);
                self.flush();
                self.marker = None;
            }
            "ul" | "ol" => {
                self.flush();
                self.lists.push((name == "ol").then_some(1));
                self.children(element);
                self.lists.pop();
                self.flush();
            }
            "td" | "th" => {
                if !self.inline.trim().is_empty() {
                    self.inline.push_str(" | ");
                }
                self.children(element);
            }
            _ if BLOCKS.contains(&name) => {
                self.flush();
                self.children(element);
                self.flush();
            }
            _ => self.children(element),
        }
    }

    fn children(&mut self, element: ElementRef<'_>) {
        for child in element.children() {
            match child.value() {
                Node::Text(text) => self.text(text),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.element(child);
                    }
                }
                _ => {}
            }
        }
    }

    fn heading(&mut self, element: ElementRef<'_>, name: &str) {
        self.flush();
        let text = collapse(&element.text().collect::<String>());
        if text.is_empty() {
            return;
        }
        let level: usize = name[1..].parse().unwrap_or(1);
        if level == 1 && self.first_h1.is_none() {
            self.first_h1 = Some(text.clone());
        }
        self.blocks.push(format!("{} {text}", "#".repeat(level)));
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                if !self.inline.is_empty() && !self.inline.ends_with([' ', '\n']) {
                    self.inline.push(' ');
                }
            } else {
                if self.inline.is_empty() {
                    if let Some(marker) = self.marker.take() {
                        self.inline.push_str(&marker);
                    }
                }
                self.inline.push(c);
            }
        }
    }

    /// Ends the current block: lines are trimmed, empty ones dropped.
    fn flush(&mut self) {
        let block = self
            .inline
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if !block.is_empty() {
            self.blocks.push(block);
        }
        self.inline.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(html: &str) -> ParsedDocument {
        parse_html(html.as_bytes()).unwrap()
    }

    #[test]
    fn lists_and_tables() {
        let doc = render(
            "<body><ol><li>one</li><li>two</li></ol><ul><li>x</li></ul>\
             <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table></body>",
        );
        assert_eq!(
            doc.sections[0].text,
            "1. one\n\n2. two\n\n- x\n\na | b\n\n1 | 2"
        );
    }

    #[test]
    fn inline_whitespace_and_br() {
        let doc = render("<p>a\n   <b>bold</b>  text<br>next line</p>");
        assert_eq!(doc.sections[0].text, "a bold text\nnext line");
    }
}
