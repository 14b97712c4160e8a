//! HTML to Markdown-flavoured text: headings become `#` lines, blocks are blank-line separated.
//! Page chrome (scripts, styles, navigation, header, footer) is dropped so it is not indexed.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use ego_tree::{NodeId, NodeRef};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName};
use scraper::node::Node;
use scraper::{ElementRef, Html, HtmlTreeSink, Selector};

use super::text::decode;
use super::{Format, Limit, ParseError, ParseLimits, ParsedDocument, Section};

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

/// Bytes handed to the HTML parser at a time: between two pieces the limits are checked, so a
/// hostile file stops at most one piece after it crossed a limit.
const PIECE: usize = 1024;

pub(crate) fn parse_html(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let html = parse_bounded(&source, limits)?;
    let mut renderer = Renderer::default();
    renderer.render(html.root_element(), limits)?;
    renderer.flush();
    let title = select_text(&html, "title").or_else(|| renderer.first_h1.clone());
    Ok(ParsedDocument {
        title,
        format: Format::Html,
        structured: true,
        sections: vec![Section::new(renderer.blocks.join("\n\n"))],
    })
}

/// Parses with html5ever, fed `PIECE` bytes at a time through a sink that counts elements and
/// tracks their depth. The tree builder's error recovery can create far more elements than the
/// source has tags (each `<p>` re-opens every unclosed `<b id=..>` before it), so the limits
/// are checked while the tree grows, not after.
fn parse_bounded(source: &str, limits: &ParseLimits) -> Result<Html, ParseError> {
    let counts = Rc::new(Counts::default());
    let sink = LimitedSink {
        inner: HtmlTreeSink::new(Html::new_document()),
        counts: counts.clone(),
        depths: RefCell::default(),
        max_depth: limits.max_depth,
        max_elements: limits.max_elements,
    };
    let mut parser = html5ever::driver::parse_document(sink, Default::default());
    let mut rest = source;
    while !rest.is_empty() {
        let mut cut = rest.len().min(PIECE);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (piece, tail) = rest.split_at(cut);
        parser.process(StrTendril::from_slice(piece));
        rest = tail;
        counts.check(limits)?;
    }
    let html = parser.finish();
    counts.check(limits)?;
    Ok(html)
}

/// What the sink saw; shared with the feeding loop, which checks it between pieces.
#[derive(Default)]
struct Counts {
    elements: Cell<usize>,
    depth_exceeded: Cell<bool>,
}

impl Counts {
    fn check(&self, limits: &ParseLimits) -> Result<(), ParseError> {
        if self.depth_exceeded.get() {
            return Err(ParseError::limit(
                "HTML nesting depth",
                Limit::MaxDepth,
                limits,
            ));
        }
        if self.elements.get() > limits.max_elements {
            return Err(ParseError::limit(
                "HTML elements",
                Limit::MaxElements,
                limits,
            ));
        }
        Ok(())
    }
}

/// scraper's tree sink, plus element counting and depth tracking. Depth is the parent's plus
/// one when a node is appended; nodes moved later by error recovery keep their first depth,
/// which is close enough for a limit (the renderer checks the exact depth again).
struct LimitedSink {
    inner: HtmlTreeSink,
    counts: Rc<Counts>,
    /// Depth of each appended node (the document node is depth 0).
    depths: RefCell<HashMap<NodeId, usize>>,
    max_depth: usize,
    max_elements: usize,
}

impl LimitedSink {
    fn record_depth(&self, parent: &NodeId, child: &NodeOrText<NodeId>) {
        if let NodeOrText::AppendNode(id) = child {
            let mut depths = self.depths.borrow_mut();
            let depth = depths.get(parent).copied().unwrap_or(0) + 1;
            depths.insert(*id, depth);
            if depth > self.max_depth {
                self.counts.depth_exceeded.set(true);
            }
        }
    }
}

impl TreeSink for LimitedSink {
    type Handle = NodeId;
    type Output = Html;
    type ElemName<'a> = <HtmlTreeSink as TreeSink>::ElemName<'a>;

    fn finish(self) -> Html {
        self.inner.finish()
    }
    // Parse errors are not reported to anyone; scraper would keep them all in memory.
    fn parse_error(&self, _msg: Cow<'static, str>) {}
    fn get_document(&self) -> NodeId {
        self.inner.get_document()
    }
    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Self::ElemName<'a> {
        self.inner.elem_name(target)
    }
    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        self.counts.elements.set(self.counts.elements.get() + 1);
        if self.counts.elements.get() > self.max_elements {
            // Past the limit, stop storing attributes: the feeding loop aborts at the end of
            // this piece, and until then an element costs a node, not its attributes.
            return self.inner.create_element(name, Vec::new(), flags);
        }
        self.inner.create_element(name, attrs, flags)
    }
    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.inner.create_comment(text)
    }
    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeId {
        self.inner.create_pi(target, data)
    }
    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        self.record_depth(parent, &child);
        self.inner.append(parent, child)
    }
    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        self.record_depth(prev_element, &child);
        self.inner
            .append_based_on_parent_node(element, prev_element, child)
    }
    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        public_id: StrTendril,
        system_id: StrTendril,
    ) {
        self.inner
            .append_doctype_to_document(name, public_id, system_id)
    }
    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        self.inner.get_template_contents(target)
    }
    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        self.inner.same_node(x, y)
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode)
    }
    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        self.inner.append_before_sibling(sibling, new_node)
    }
    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs)
    }
    fn remove_from_parent(&self, target: &NodeId) {
        self.inner.remove_from_parent(target)
    }
    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        self.inner.reparent_children(node, new_parent)
    }
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

/// One step of the depth-first walk: visit a node, or finish an element after its children.
enum Step<'a> {
    Enter(NodeRef<'a, Node>, usize),
    Exit(Close),
}

/// What ending an element does.
#[derive(Clone, Copy)]
enum Close {
    /// Nothing (inline elements, table cells).
    Inline,
    /// End the block.
    Block,
    /// End a list item: end its block and forget its marker.
    Item,
    /// End a list.
    List,
}

impl Renderer {
    /// Walks the tree depth-first with an explicit stack: nesting depth is the input's to
    /// choose, so it must cost heap, never call stack.
    fn render(&mut self, root: ElementRef<'_>, limits: &ParseLimits) -> Result<(), ParseError> {
        let mut stack = vec![Step::Enter(*root, 1)];
        while let Some(step) = stack.pop() {
            let (node, depth) = match step {
                Step::Exit(close) => {
                    self.close(close);
                    continue;
                }
                Step::Enter(node, depth) => (node, depth),
            };
            if depth > limits.max_depth {
                return Err(ParseError::limit(
                    "HTML nesting depth",
                    Limit::MaxDepth,
                    limits,
                ));
            }
            match node.value() {
                Node::Text(text) => self.text(text),
                Node::Element(_) => {
                    let element = ElementRef::wrap(node).expect("an element node");
                    if let Some(close) = self.open(element) {
                        stack.push(Step::Exit(close));
                        stack.extend(node.children().rev().map(|c| Step::Enter(c, depth + 1)));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Starts an element; `Some` when its children are to be walked, then closed so.
    fn open(&mut self, element: ElementRef<'_>) -> Option<Close> {
        let el = element.value();
        let name = el.name();
        if SKIP.contains(&name) || el.attr("hidden").is_some() {
            return None;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.heading(element, name);
                None
            }
            "pre" => {
                self.flush();
                let code: String = element.text().collect();
                let code = code.trim_matches('\n');
                if !code.trim().is_empty() {
                    self.blocks.push(format!("```\n{code}\n```"));
                }
                None
            }
            "br" => {
                self.inline.push('\n');
                None
            }
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
                Some(Close::Item)
            }
            "ul" | "ol" => {
                self.flush();
                self.lists.push((name == "ol").then_some(1));
                Some(Close::List)
            }
            "td" | "th" => {
                if !self.inline.trim().is_empty() {
                    self.inline.push_str(" | ");
                }
                Some(Close::Inline)
            }
            _ if BLOCKS.contains(&name) => {
                self.flush();
                Some(Close::Block)
            }
            _ => Some(Close::Inline),
        }
    }

    fn close(&mut self, close: Close) {
        match close {
            Close::Inline => {}
            Close::Block => self.flush(),
            Close::Item => {
                self.flush();
                self.marker = None;
            }
            Close::List => {
                self.lists.pop();
                self.flush();
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
        parse_html(html.as_bytes(), &ParseLimits::default()).unwrap()
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
