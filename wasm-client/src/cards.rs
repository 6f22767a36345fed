//! MyFlashPlay's card grammar: the deck markdown parsed into the app's
//! `Flashcard` objects, and cards rendered back to markdown.
//!
//! The grammar is the one the app's markdown processor implements (its
//! lexer and parser, not only its `MARKDOWN_SPEC`), line by line after
//! `\r\n` → `\n` and a leading BOM dropped, each line trimmed:
//! - a `---` first line opens a metadata block closed by the next `---`;
//!   `` ``` `` fences a code block; neither makes cards;
//! - `# x` sets the category (and clears the subcategory), `## x` the
//!   subcategory, `### x` nothing;
//! - `<!-- ... -->` is a comment; right after a card (blank lines allowed)
//!   `Hint:`, `Explanation:`, `Difficulty: easy|medium|hard` and
//!   `Tags: a, b` comments fill the card's `metadata`;
//! - a line with `$`, `\[` or `\(` (LaTeX) or a markdown image makes no card;
//! - `q :: a` (also `- q :: a`) is a card; an answer `true`/`false`/`đúng`/
//!   `sai` or containing `(true)`/`(false)` makes it `true-false` with the
//!   answer normalized to `true`/`false`, else `simple`; when a line holds
//!   several ` :: `, the answer is the second part;
//! - a line followed by `- ` or `* ` lines is a multiple-choice question:
//!   its option lines and `> answer` lines follow (blank lines allowed);
//!   the `>` answer marks the option with that text correct or adds it; a
//!   question needs two options and an answer, or makes no card.
//!
//! **Card ids are derived, not random** (the app draws a new random id on
//! every parse, so two devices could never agree on one): a card's id is a
//! UUID (version 8) from SHA-256 over the deck id, the card's front
//! normalized (trimmed, inner white space collapsed to one space,
//! lowercased) and how many earlier cards of the deck have that same
//! normalized front. Inserting, removing or editing other cards, or editing
//! this card's answer, options or category, keeps the id; editing its
//! front gives a new one. Option ids derive the same way from the card id
//! and the option's text.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A line of the markdown as the app's lexer classifies it.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Empty,
    Header1(String),
    Header2(String),
    Comment(String),
    Correct(String),
    Option(String),
    QuestionAnswer(String, String),
    McQuestion(String),
    /// Lines that make no card: text, LaTeX, images, `###` headers.
    Other,
}

/// A card as parsed, with the lines it spans (0-based, inclusive).
#[derive(Debug, Clone)]
pub struct ParsedCard {
    /// The `Flashcard` JSON value.
    pub card: Value,
    /// First line of the card.
    pub first_line: usize,
    /// Last line of the card (the last option or answer of a question).
    pub last_line: usize,
    /// Last line of the metadata comments that follow the card (its last
    /// line when none do).
    pub comments_end_line: usize,
}

/// The lines of `markdown` as the app splits them.
pub fn lines(markdown: &str) -> Vec<&str> {
    let text = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    text.split('\n').collect()
}

fn tokenize(lines: &[&str]) -> Vec<(usize, Token)> {
    let mut out = Vec::with_capacity(lines.len());
    let mut in_metadata = false;
    let mut in_code = false;
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim();
        if t == "---" && (i == 0 || in_metadata) {
            in_metadata = !in_metadata;
            continue;
        }
        if in_metadata {
            continue;
        }
        if t.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let token = if t.is_empty() {
            Token::Empty
        } else if t.starts_with("### ") {
            Token::Other
        } else if let Some(h) = t.strip_prefix("## ") {
            Token::Header2(h.trim().to_string())
        } else if let Some(h) = t.strip_prefix("# ") {
            Token::Header1(h.trim().to_string())
        } else if t.starts_with("<!--") && t.ends_with("-->") {
            Token::Comment(t.get(4..t.len() - 3).unwrap_or_default().trim().to_string())
        } else if t.contains('$') || t.contains("\\[") || t.contains("\\(") || is_image(t) {
            Token::Other
        } else if let Some(c) = t.strip_prefix("> ") {
            Token::Correct(c.trim().to_string())
        } else if let Some(rest) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            if t.contains(" :: ") {
                question_answer(rest.trim())
            } else {
                Token::Option(rest.trim().to_string())
            }
        } else if t.contains(" :: ") {
            question_answer(t)
        } else if lines.get(i + 1).is_some_and(|next| {
            let n = next.trim();
            n.starts_with("- ") || n.starts_with("* ")
        }) {
            Token::McQuestion(t.to_string())
        } else {
            Token::Other
        };
        out.push((i, token));
    }
    out
}

fn question_answer(line: &str) -> Token {
    let mut parts = line.split(" :: ");
    let q = parts.next().unwrap_or_default().trim().to_string();
    let a = parts.next().unwrap_or_default().trim().to_string();
    Token::QuestionAnswer(q, a)
}

/// `![alt](url)` anywhere in the line.
fn is_image(line: &str) -> bool {
    line.match_indices("![").any(|(at, _)| {
        let rest = &line[at + 2..];
        rest.find("](")
            .is_some_and(|close| rest[close + 2..].contains(')'))
    })
}

/// The cards of a deck's markdown, in order, with derived ids.
pub fn parse(deck_id: &str, markdown: &str) -> Vec<Value> {
    parse_with_lines(deck_id, markdown)
        .into_iter()
        .map(|p| p.card)
        .collect()
}

/// [`parse`], also telling which lines each card spans.
pub fn parse_with_lines(deck_id: &str, markdown: &str) -> Vec<ParsedCard> {
    let normalized = markdown.replace("\r\n", "\n");
    let lines = lines(&normalized);
    let tokens = tokenize(&lines);
    let mut ids = IdMaker::new(deck_id);
    let mut out = Vec::new();
    let mut category = String::new();
    let mut subcategory = String::new();
    let mut pos = 0;
    while pos < tokens.len() {
        let (line, token) = &tokens[pos];
        let mut end = pos;
        let card = match token {
            Token::Header1(h) => {
                category = h.clone();
                subcategory.clear();
                None
            }
            Token::Header2(h) => {
                subcategory = h.clone();
                None
            }
            Token::QuestionAnswer(q, a) if !(q.is_empty() && a.is_empty()) => {
                let true_false = is_true_false(a);
                let back = if true_false {
                    normalize_true_false(a)
                } else {
                    a.clone()
                };
                let kind = if true_false { "true-false" } else { "simple" };
                Some(json!({
                    "id": ids.card(q), "type": kind, "front": q, "back": back,
                    "metadata": {"difficulty": "easy", "tags": []},
                }))
            }
            Token::McQuestion(q) => {
                let (card, last) = multiple_choice(q, &tokens, pos, &mut ids);
                end = last;
                card
            }
            _ => None,
        };
        if let Some(mut card) = card {
            if !category.is_empty() {
                card["category"] = json!(category);
            }
            if !subcategory.is_empty() {
                card["subcategory"] = json!(subcategory);
            }
            let comments_end_line = read_comments(&mut card, &tokens[end + 1..]);
            let last_line = (pos..=end)
                .rev()
                .map(|i| &tokens[i])
                .find(|(_, t)| *t != Token::Empty)
                .map_or(*line, |(l, _)| *l);
            out.push(ParsedCard {
                card,
                first_line: *line,
                last_line,
                comments_end_line: comments_end_line.unwrap_or(last_line),
            });
        }
        pos = end + 1;
    }
    out
}

/// A multiple-choice question at `tokens[at]`: the card (if complete) and
/// the index of the last token it consumed.
fn multiple_choice(
    question: &str,
    tokens: &[(usize, Token)],
    at: usize,
    ids: &mut IdMaker,
) -> (Option<Value>, usize) {
    let mut options: Vec<(String, bool)> = Vec::new();
    let mut answer = String::new();
    let mut pos = at + 1;
    while let Some((_, t)) = tokens.get(pos) {
        match t {
            Token::Option(text) => options.push((text.clone(), false)),
            Token::Correct(text) => {
                answer = text.clone();
                match options.iter_mut().find(|(o, _)| *o == answer) {
                    Some(o) => o.1 = true,
                    None => options.push((answer.clone(), true)),
                }
            }
            Token::Empty => {}
            _ => break,
        }
        pos += 1;
    }
    let last = pos - 1;
    if options.len() < 2 || answer.is_empty() {
        return (None, last);
    }
    let id = ids.card(question);
    let mut option_ids = IdMaker::new(&id);
    let options: Vec<Value> = options
        .iter()
        .map(|(text, correct)| json!({"id": option_ids.card(text), "text": text, "isCorrect": correct}))
        .collect();
    let card = json!({
        "id": id, "type": "multiple-choice", "front": question, "back": answer,
        "options": options, "metadata": {"difficulty": "medium", "tags": []},
    });
    (Some(card), last)
}

/// Metadata comments following a card (blank lines allowed between);
/// the line of the last comment read.
fn read_comments(card: &mut Value, after: &[(usize, Token)]) -> Option<usize> {
    let mut last = None;
    for (line, t) in after {
        let comment = match t {
            Token::Empty => continue,
            Token::Comment(c) => c,
            _ => break,
        };
        last = Some(*line);
        let meta = &mut card["metadata"];
        if let Some(v) = comment.strip_prefix("Hint:") {
            meta["hint"] = json!(v.trim());
        } else if let Some(v) = comment.strip_prefix("Explanation:") {
            meta["explanation"] = json!(v.trim());
        } else if let Some(v) = comment.strip_prefix("Difficulty:") {
            let d = v.trim().to_lowercase();
            if ["easy", "medium", "hard"].contains(&d.as_str()) {
                meta["difficulty"] = json!(d);
            }
        } else if let Some(v) = comment.strip_prefix("Tags:") {
            meta["tags"] = json!(v.split(',').map(str::trim).collect::<Vec<_>>());
        }
    }
    last
}

fn is_true_false(answer: &str) -> bool {
    let n = answer.to_lowercase();
    let n = n.trim();
    ["true", "false", "đúng", "sai"].contains(&n) || n.contains("(true)") || n.contains("(false)")
}

fn normalize_true_false(answer: &str) -> String {
    let n = answer.to_lowercase();
    if n.contains("true") || n == "đúng" {
        "true".into()
    } else if n.contains("false") || n == "sai" {
        "false".into()
    } else {
        answer.to_string()
    }
}

/// Hands out derived ids, counting repeated fronts.
struct IdMaker<'a> {
    scope: &'a str,
    seen: BTreeMap<String, u32>,
}

impl<'a> IdMaker<'a> {
    fn new(scope: &'a str) -> Self {
        IdMaker {
            scope,
            seen: BTreeMap::new(),
        }
    }

    fn card(&mut self, front: &str) -> String {
        let key = normalize_front(front);
        let n = self.seen.entry(key.clone()).or_insert(0);
        let id = derived_id(self.scope, &key, *n);
        *n += 1;
        id
    }
}

/// A front as card ids see it: trimmed, white space collapsed, lowercased.
pub fn normalize_front(front: &str) -> String {
    front
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The id of the `occurrence`-th card (0-based) with this normalized front
/// in deck `scope` (or of an option in card `scope`).
fn derived_id(scope: &str, normalized_front: &str, occurrence: u32) -> String {
    let mut h = Sha256::new();
    h.update(b"myflashplay-card-v1");
    for part in [scope.as_bytes(), normalized_front.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(occurrence.to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// What of a card the markdown holds: two cards with the same content key
/// render to the same markdown. Ids and fields the grammar has no place
/// for (media, related cards) are not part of it.
pub fn content_key(card: &Value) -> Value {
    let kind = card["type"].as_str().unwrap_or("simple");
    let meta = &card["metadata"];
    let default_difficulty = if kind == "multiple-choice" {
        "medium"
    } else {
        "easy"
    };
    let options: Vec<Value> = card["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| json!([o["text"], o["isCorrect"].as_bool().unwrap_or(false)]))
                .collect()
        })
        .unwrap_or_default();
    let tags = meta["tags"].as_array().cloned().unwrap_or_default();
    json!([
        kind,
        card["front"].as_str().unwrap_or_default().trim(),
        if kind == "multiple-choice" {
            json!(null)
        } else {
            json!(card["back"].as_str().unwrap_or_default().trim())
        },
        card["category"].as_str().unwrap_or_default(),
        card["subcategory"].as_str().unwrap_or_default(),
        if kind == "multiple-choice" {
            json!(options)
        } else {
            json!(null)
        },
        meta["difficulty"].as_str().unwrap_or(default_difficulty),
        tags,
        meta["hint"].as_str().unwrap_or_default(),
        meta["explanation"].as_str().unwrap_or_default(),
    ])
}

/// Whether `cards` say the same as what `markdown` parses to.
pub fn same_content(deck_id: &str, markdown: &str, cards: &[Value]) -> bool {
    let parsed = parse(deck_id, markdown);
    parsed.len() == cards.len()
        && parsed
            .iter()
            .zip(cards)
            .all(|(a, b)| content_key(a) == content_key(b))
}

/// Cards as markdown in the app's grammar: cards without a category first,
/// then one `# category` section per category (and `## subcategory`
/// within), each in the order the cards came. Parsing the result gives
/// cards with the same content.
pub fn render(cards: &[Value]) -> String {
    let mut groups: Vec<((String, String), Vec<&Value>)> = Vec::new();
    for card in cards {
        let key = (
            card["category"].as_str().unwrap_or_default().to_string(),
            card["subcategory"].as_str().unwrap_or_default().to_string(),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(card),
            None => groups.push((key, vec![card])),
        }
    }
    // Uncategorized first (a `#` header cannot be undone), then each
    // category with its subcategory-less cards before its subcategories.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    let first_of = |cat: &str| groups.iter().position(|((c, _), _)| c == cat);
    order.sort_by_key(|&i| {
        let (cat, sub) = &groups[i].0;
        (!cat.is_empty(), first_of(cat), !sub.is_empty(), i)
    });
    let mut out = String::new();
    let (mut cur_cat, mut cur_sub) = (String::new(), String::new());
    for i in order {
        let ((cat, sub), list) = &groups[i];
        if *cat != cur_cat {
            out.push_str(&format!("# {cat}\n\n"));
            cur_cat = cat.clone();
            cur_sub.clear();
        }
        if *sub != cur_sub {
            out.push_str(&format!("## {sub}\n\n"));
            cur_sub = sub.clone();
        }
        for card in list {
            render_card(&mut out, card);
        }
    }
    out
}

fn render_card(out: &mut String, card: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().to_string();
    let front = text(&card["front"]);
    let kind = card["type"].as_str().unwrap_or("simple");
    if kind == "multiple-choice" {
        out.push_str(&front);
        out.push('\n');
        let options = card["options"].as_array().cloned().unwrap_or_default();
        let mut answer = text(&card["back"]);
        if let Some(correct) = options.iter().find(|o| o["isCorrect"] == json!(true)) {
            answer = text(&correct["text"]);
        }
        for o in &options {
            out.push_str(&format!("- {}\n", text(&o["text"])));
        }
        out.push_str(&format!("> {answer}\n"));
    } else {
        out.push_str(&format!("{front} :: {}\n", text(&card["back"])));
    }
    let meta = &card["metadata"];
    for (label, key) in [("Hint", "hint"), ("Explanation", "explanation")] {
        if let Some(v) = meta[key].as_str() {
            out.push_str(&format!("<!-- {label}: {v} -->\n"));
        }
    }
    let default_difficulty = if kind == "multiple-choice" {
        "medium"
    } else {
        "easy"
    };
    if let Some(d) = meta["difficulty"].as_str() {
        if d != default_difficulty {
            out.push_str(&format!("<!-- Difficulty: {d} -->\n"));
        }
    }
    if let Some(tags) = meta["tags"].as_array().filter(|t| !t.is_empty()) {
        let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!("<!-- Tags: {} -->\n", tags.join(", ")));
    }
    if kind == "multiple-choice" {
        out.push('\n');
    }
}

/// The cards of `markdown` keyed by the content of their front, for
/// mapping ids the app drew at random onto derived ones.
pub fn ids_by_front(deck_id: &str, markdown: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for card in parse(deck_id, markdown) {
        let key = normalize_front(card["front"].as_str().unwrap_or_default());
        out.entry(key).or_insert(card["id"].clone());
    }
    out
}

#[cfg(test)]
mod tests;
