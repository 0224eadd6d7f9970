//! The Logging query language, as far as runiam reads logs: a real parser
//! (tokens → AST) and an evaluator over LogEntry JSON.
//!
//! Supported: comparisons `=`, `!=`, `:` (has, case-insensitive substring;
//! `:*` is presence), `<`, `<=`, `>`, `>=`; `AND`, `OR`, `NOT` and `-`;
//! juxtaposition as AND; parentheses; value groups (`f=("a" OR "b")`);
//! quoted and bare values; dotted fields with quoted segments
//! (`labels."run.googleapis.com/x"`), snake_case accepted for any segment;
//! bare terms as global restrictions. `severity` compares by level,
//! `timestamp` and `receiveTimestamp` as RFC 3339 instants, numbers as
//! numbers. Precedence is Logging's own: NOT binds tightest, then OR, then
//! AND, so `a AND b OR c` is `a AND (b OR c)`.
//!
//! Nothing here panics on any input: errors name the line and column, and
//! nesting is bounded so a hostile filter cannot exhaust the stack.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// Google's limit on a filter's length.
pub const MAX_FILTER_CHARS: usize = 20_000;

/// Deeper nesting is refused: real filters stay far shallower.
const MAX_DEPTH: usize = 64;

/// Severity names in level order; `DEFAULT` is 0, each next one 100 more.
const SEVERITIES: [&str; 9] =
    ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"];

/// Why a filter was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub line: usize,
    pub column: usize,
    pub what: String,
    /// The offending token, for syntax errors.
    pub token: Option<String>,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unparseable filter: {} at line {}, column {}", self.what, self.line, self.column)?;
        match &self.token {
            Some(t) => write!(f, ", token '{t}'"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Has,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// No filter: everything matches.
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: Vec<String>,
        op: Op,
        value: String,
    },
    /// `field:*`.
    Present(Vec<String>),
    /// A bare term: some field of the entry has it.
    Global(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Minus,
    Op(Op),
    /// `=~` and `!~`, recognised so they can be refused by name.
    Regex,
    Str(String),
    Word(String),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
    /// The source text, for error messages.
    text: String,
}

/// Parses `filter`; an empty one matches everything.
pub fn parse(filter: &str) -> Result<Expr, FilterError> {
    if filter.chars().count() > MAX_FILTER_CHARS {
        return Err(FilterError {
            line: 1,
            column: MAX_FILTER_CHARS + 1,
            what: format!("the filter is longer than {MAX_FILTER_CHARS} characters"),
            token: None,
        });
    }
    let tokens = tokenize(filter)?;
    let (line, column) = end_position(filter);
    let mut p = Parser { tokens, pos: 0, depth: 0, end: (line, column) };
    if p.tokens.is_empty() {
        return Ok(Expr::All);
    }
    let e = p.and_expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(p.syntax(t)),
    }
}

fn end_position(s: &str) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in s.chars() {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Characters that end a bare word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '=' | '!' | '<' | '>' | ':')
}

fn tokenize(s: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut column) = (0usize, 1usize, 1usize);
    // Whether the previous token ends where a term may start (for `-`).
    let mut term_start = true;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            i += 1;
            line += 1;
            column = 1;
            term_start = true;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            column += 1;
            term_start = true;
            continue;
        }
        let (start_line, start_column) = (line, column);
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '=' if next == Some('~') => (Tok::Regex, 2),
            '!' if next == Some('~') => (Tok::Regex, 2),
            '!' if next == Some('=') => (Tok::Op(Op::Ne), 2),
            '=' => (Tok::Op(Op::Eq), 1),
            ':' => (Tok::Op(Op::Has), 1),
            '<' if next == Some('=') => (Tok::Op(Op::Le), 2),
            '>' if next == Some('=') => (Tok::Op(Op::Ge), 2),
            '<' => (Tok::Op(Op::Lt), 1),
            '>' => (Tok::Op(Op::Gt), 1),
            '!' => {
                return Err(FilterError { line, column, what: "syntax error".into(), token: Some("!".into()) });
            }
            '-' if term_start && next.is_some_and(|n| !n.is_whitespace()) => (Tok::Minus, 1),
            '"' => {
                let (text, len) = quoted(&chars[i..]).ok_or(FilterError {
                    line,
                    column,
                    what: "syntax error, unterminated string".into(),
                    token: None,
                })?;
                (Tok::Str(text), len)
            }
            _ => {
                let len = word_len(&chars[i..]).ok_or(FilterError {
                    line,
                    column,
                    what: "syntax error, unterminated quoted field name".into(),
                    token: None,
                })?;
                (Tok::Word(chars[i..i + len].iter().collect()), len)
            }
        };
        let text: String = chars[i..i + len].iter().collect();
        term_start = matches!(tok, Tok::LParen | Tok::Minus | Tok::Op(_));
        out.push(Token { tok, line: start_line, column: start_column, text });
        i += len;
        column += len;
    }
    Ok(out)
}

/// A double-quoted string at the start of `chars`: its value and length.
fn quoted(chars: &[char]) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Some((out, i + 1)),
            '\\' => {
                let escaped = *chars.get(i + 1)?;
                out.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            '\n' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// The length of a bare word; a `"` right after a `.` opens a quoted path
/// segment that is part of the word.
fn word_len(chars: &[char]) -> Option<usize> {
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' && i > 0 && chars[i - 1] == '.' {
            let (_, len) = quoted(&chars[i..])?;
            i += len;
            continue;
        }
        if is_delimiter(c) {
            break;
        }
        i += 1;
    }
    Some(i.max(1))
}

/// Splits `a.b."c.d"` into `[a, b, c.d]`; `None` for an empty segment.
fn field_path(word: &str) -> Option<Vec<String>> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if chars.get(i) == Some(&'"') {
            let (text, len) = quoted(&chars[i..])?;
            out.push(text);
            i += len;
        } else {
            let start = i;
            while i < chars.len() && chars[i] != '.' {
                i += 1;
            }
            if i == start {
                return None;
            }
            out.push(chars[start..i].iter().collect());
        }
        match chars.get(i) {
            None => return Some(out),
            Some('.') if i + 1 < chars.len() => i += 1,
            _ => return None,
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    end: (usize, usize),
}

fn is_keyword(t: &Token, k: &str) -> bool {
    matches!(&t.tok, Tok::Word(w) if w == k)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        match self.tokens.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t.clone())
            }
            None => Err(self.eof()),
        }
    }

    fn syntax(&self, t: &Token) -> FilterError {
        let what = match t.tok {
            Tok::Regex => "regular expressions are not supported by runiam-emulator",
            _ => "syntax error",
        };
        FilterError { line: t.line, column: t.column, what: what.into(), token: Some(t.text.clone()) }
    }

    fn eof(&self) -> FilterError {
        FilterError {
            line: self.end.0,
            column: self.end.1,
            what: "syntax error, unexpected end of filter".into(),
            token: None,
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (line, column) = self.peek().map(|t| (t.line, t.column)).unwrap_or(self.end);
            return Err(FilterError {
                line,
                column,
                what: format!("nesting deeper than {MAX_DEPTH} levels"),
                token: None,
            });
        }
        Ok(())
    }

    /// Can the next token start a term (for juxtaposition)?
    fn term_follows(&self) -> bool {
        match self.peek() {
            None => false,
            Some(t) if is_keyword(t, "OR") || is_keyword(t, "AND") => false,
            Some(t) => matches!(t.tok, Tok::LParen | Tok::Minus | Tok::Str(_) | Tok::Word(_)),
        }
    }

    fn and_expr(&mut self) -> Result<Expr, FilterError> {
        self.enter()?;
        let mut items = vec![self.or_expr()?];
        loop {
            if self.peek().is_some_and(|t| is_keyword(t, "AND")) {
                self.pos += 1;
                items.push(self.or_expr()?);
            } else if self.term_follows() {
                items.push(self.or_expr()?);
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn or_expr(&mut self) -> Result<Expr, FilterError> {
        let mut items = vec![self.not_expr()?];
        while self.peek().is_some_and(|t| is_keyword(t, "OR")) {
            self.pos += 1;
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn not_expr(&mut self) -> Result<Expr, FilterError> {
        if self.peek().is_some_and(|t| is_keyword(t, "NOT") || t.tok == Tok::Minus) {
            self.pos += 1;
            self.enter()?;
            let inner = self.not_expr()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let t = self.next()?;
        match &t.tok {
            Tok::LParen => {
                let e = self.and_expr()?;
                self.expect_rparen()?;
                Ok(e)
            }
            Tok::Word(w) if is_keyword(&t, "AND") || is_keyword(&t, "OR") => {
                Err(FilterError { line: t.line, column: t.column, what: "syntax error".into(), token: Some(w.clone()) })
            }
            Tok::Word(w) => {
                let w = w.clone();
                match self.peek_tok() {
                    Some(Tok::Op(op)) => {
                        let op = *op;
                        self.pos += 1;
                        let field = field_path(&w).ok_or_else(|| FilterError {
                            line: t.line,
                            column: t.column,
                            what: "syntax error, invalid field name".into(),
                            token: Some(w.clone()),
                        })?;
                        self.value(&field, op)
                    }
                    Some(Tok::Regex) => Err(self.syntax(&self.tokens[self.pos].clone())),
                    _ => Ok(Expr::Global(w)),
                }
            }
            Tok::Str(s) => match self.peek() {
                Some(next) if matches!(next.tok, Tok::Op(_) | Tok::Regex) => Err(self.syntax(next)),
                _ => Ok(Expr::Global(s.clone())),
            },
            _ => Err(self.syntax(&t)),
        }
    }

    fn expect_rparen(&mut self) -> Result<(), FilterError> {
        match self.peek() {
            Some(t) if t.tok == Tok::RParen => {
                self.pos += 1;
                Ok(())
            }
            Some(t) => Err(self.syntax(t)),
            None => Err(self.eof()),
        }
    }

    /// The right side of a comparison: a value or a parenthesised group of
    /// values joined by AND, OR, NOT and juxtaposition.
    fn value(&mut self, field: &[String], op: Op) -> Result<Expr, FilterError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Str(s) => self.leaf(field, op, s.clone(), &t),
            Tok::Word(w) if !is_keyword(&t, "AND") && !is_keyword(&t, "OR") && !is_keyword(&t, "NOT") => {
                self.leaf(field, op, w.clone(), &t)
            }
            Tok::LParen => {
                self.enter()?;
                let e = self.value_and(field, op)?;
                self.depth -= 1;
                self.expect_rparen()?;
                Ok(e)
            }
            _ => Err(self.syntax(&t)),
        }
    }

    fn value_and(&mut self, field: &[String], op: Op) -> Result<Expr, FilterError> {
        let mut items = vec![self.value_or(field, op)?];
        loop {
            if self.peek().is_some_and(|t| is_keyword(t, "AND")) {
                self.pos += 1;
            } else if !self.term_follows() {
                break;
            }
            items.push(self.value_or(field, op)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(items) })
    }

    fn value_or(&mut self, field: &[String], op: Op) -> Result<Expr, FilterError> {
        let mut items = vec![self.value_not(field, op)?];
        while self.peek().is_some_and(|t| is_keyword(t, "OR")) {
            self.pos += 1;
            items.push(self.value_not(field, op)?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::Or(items) })
    }

    fn value_not(&mut self, field: &[String], op: Op) -> Result<Expr, FilterError> {
        if self.peek().is_some_and(|t| is_keyword(t, "NOT") || t.tok == Tok::Minus) {
            self.pos += 1;
            self.enter()?;
            let inner = self.value_not(field, op)?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.value(field, op)
    }

    fn leaf(&self, field: &[String], op: Op, value: String, at: &Token) -> Result<Expr, FilterError> {
        if op == Op::Has && value == "*" && matches!(at.tok, Tok::Word(_)) {
            return Ok(Expr::Present(field.to_vec()));
        }
        if is_time_field(field) && op != Op::Has && parse_time(&value).is_none() {
            return Err(FilterError {
                line: at.line,
                column: at.column,
                what: format!("invalid timestamp '{value}' (use RFC 3339, e.g. \"2025-01-20T08:00:00Z\")"),
                token: None,
            });
        }
        Ok(Expr::Cmp { field: field.to_vec(), op, value })
    }
}

fn is_time_field(field: &[String]) -> bool {
    matches!(field, [f] if matches!(f.as_str(), "timestamp" | "receiveTimestamp" | "receive_timestamp"))
}

fn is_severity(field: &[String]) -> bool {
    matches!(field, [f] if f == "severity")
}

/// RFC 3339, and the `+0000` offset form google-cloud-logging's default
/// time filter uses.
fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s).ok().or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

fn severity_rank(s: &str) -> Option<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Some(n);
    }
    SEVERITIES.iter().position(|n| n.eq_ignore_ascii_case(s.trim())).map(|i| i as i64 * 100)
}

/// `log_name` → `logName`.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The values at `path`, arrays fanned out; the exact key wins over its
/// camelCase form so `resource.labels.service_name` stays as written.
fn resolve<'v>(entry: &'v Value, path: &[String]) -> Vec<&'v Value> {
    let mut current = vec![entry];
    for seg in path {
        let mut next = Vec::new();
        for v in current {
            for v in flatten(v) {
                if let Value::Object(o) = v
                    && let Some(found) = o.get(seg.as_str()).or_else(|| o.get(camel(seg).as_str()))
                {
                    next.push(found);
                }
            }
        }
        current = next;
    }
    current.into_iter().flat_map(flatten).filter(|v| !v.is_null()).collect()
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

impl Expr {
    /// Does `entry` (LogEntry JSON) match?
    pub fn matches(&self, entry: &Value) -> bool {
        match self {
            Self::All => true,
            Self::And(items) => items.iter().all(|e| e.matches(entry)),
            Self::Or(items) => items.iter().any(|e| e.matches(entry)),
            Self::Not(e) => !e.matches(entry),
            Self::Present(field) => !resolve(entry, field).is_empty(),
            Self::Global(term) => global(entry, &term.to_lowercase()),
            Self::Cmp { field, op: Op::Ne, value } => {
                !Self::Cmp { field: field.clone(), op: Op::Eq, value: value.clone() }.matches(entry)
            }
            Self::Cmp { field, op, value } => {
                if is_severity(field) {
                    // An entry without a severity is DEFAULT.
                    let got = resolve(entry, field).first().and_then(|v| v.as_str()).unwrap_or("DEFAULT");
                    return match (severity_rank(got), severity_rank(value)) {
                        (Some(a), Some(b)) => ordered(*op, a.cmp(&b)),
                        _ => false,
                    };
                }
                resolve(entry, field).into_iter().any(|leaf| compare(leaf, *op, value, is_time_field(field)))
            }
        }
    }
}

fn ordered(op: Op, o: Ordering) -> bool {
    match op {
        Op::Eq | Op::Has => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
    }
}

fn compare(leaf: &Value, op: Op, value: &str, time: bool) -> bool {
    let text = match leaf {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // Objects match `:` when the value is one of their keys.
        Value::Object(o) => return op == Op::Has && o.keys().any(|k| k.eq_ignore_ascii_case(value)),
        _ => return false,
    };
    if op == Op::Has {
        return text.to_lowercase().contains(&value.to_lowercase());
    }
    if time && let (Some(a), Some(b)) = (parse_time(&text), parse_time(value)) {
        return ordered(op, a.cmp(&b));
    }
    // Numbers, including int64 fields that JSON carries as strings.
    if let (Ok(a), Ok(b)) = (text.parse::<f64>(), value.parse::<f64>())
        && let Some(o) = a.partial_cmp(&b)
    {
        return ordered(op, o);
    }
    ordered(op, text.as_str().cmp(value))
}

/// A bare term matches when any string in the entry contains it.
fn global(v: &Value, term: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(term),
        Value::Number(n) => n.to_string() == term,
        Value::Array(a) => a.iter().any(|x| global(x, term)),
        Value::Object(o) => o.values().any(|x| global(x, term)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn err(f: &str) -> String {
        parse(f).unwrap_err().to_string()
    }

    #[test]
    fn precedence_is_not_or_and() {
        let e = parse("a=1 AND b=2 OR c=3").unwrap();
        let cmp = |f: &str, v: &str| Expr::Cmp { field: vec![f.into()], op: Op::Eq, value: v.into() };
        assert_eq!(e, Expr::And(vec![cmp("a", "1"), Expr::Or(vec![cmp("b", "2"), cmp("c", "3")])]));
        assert_eq!(parse("-a=1").unwrap(), Expr::Not(Box::new(cmp("a", "1"))));
        assert_eq!(parse("NOT a=1 b=2").unwrap(), Expr::And(vec![Expr::Not(Box::new(cmp("a", "1"))), cmp("b", "2")]));
        assert_eq!(parse("  ").unwrap(), Expr::All);
        assert_eq!(
            parse(r#"labels."run.googleapis.com/x"="y""#).unwrap(),
            Expr::Cmp { field: vec!["labels".into(), "run.googleapis.com/x".into()], op: Op::Eq, value: "y".into() }
        );
    }

    #[test]
    fn errors_name_the_position() {
        assert_eq!(err("severity>=ERROR )"), "Unparseable filter: syntax error at line 1, column 17, token ')'");
        assert_eq!(err("a=\"x"), "Unparseable filter: syntax error, unterminated string at line 1, column 3");
        assert_eq!(err("a="), "Unparseable filter: syntax error, unexpected end of filter at line 1, column 3");
        assert_eq!(err("(a=1"), "Unparseable filter: syntax error, unexpected end of filter at line 1, column 5");
        assert_eq!(err("a=1\nAND OR b=2"), "Unparseable filter: syntax error at line 2, column 5, token 'OR'");
        assert!(
            err("a=~\"x\"")
                .ends_with("regular expressions are not supported by runiam-emulator at line 1, column 2, token '=~'")
        );
        assert!(err("timestamp>=\"yesterday\"").contains("invalid timestamp 'yesterday'"));
        assert!(err(&"(".repeat(200)).contains("nesting deeper than 64 levels"));
        assert!(err("a..b=1").ends_with("invalid field name at line 1, column 1, token 'a..b'"));
    }

    #[test]
    fn values_compare_by_kind() {
        let e = json!({"severity": "WARNING", "httpRequest": {"status": 403, "requestSize": "733"},
            "timestamp": "2025-01-20T08:00:00.5Z", "labels": {"k": "V"}, "list": ["a", "b"]});
        let m = |f: &str| parse(f).unwrap().matches(&e);
        assert!(m("severity>=warning") && m("severity<ERROR") && !m("severity=INFO") && m("severity>=400"));
        assert!(m("httpRequest.status>=400") && m("http_request.request_size>700") && !m("httpRequest.status<400"));
        assert!(m("timestamp>\"2025-01-20T09:00:00+02:00\"") && m("timestamp<\"2025-01-20T08:00:01Z\""));
        assert!(m("timestamp>=\"2025-01-20T07:59:00.5+0000\""));
        assert!(m("labels.k:v") && !m("labels.k=v") && m("labels:k") && m("list=b") && m("labels.k:*"));
        assert!(!m("missing:*") && m("missing!=x") && m("-missing=x") && m("\"v\""));
        assert!(parse("").unwrap().matches(&json!({})));
        assert!(!parse("severity>=DEBUG").unwrap().matches(&json!({})));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(e) = parse(&s) {
                e.matches(&json!({"a": {"b": [1, "x"]}, "severity": "INFO", "timestamp": "2025-01-01T00:00:00Z"}));
            }
        }

        #[test]
        fn never_panics_on_filter_like_input(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("("), Just(")"), Just("AND "), Just("OR "), Just("NOT "), Just("-"), Just("="),
                    Just("!="), Just(":"), Just(">="), Just("<"), Just("\""), Just("a.b"), Just("severity"),
                    Just("timestamp"), Just(" "), Just("\"x\""), Just("*"), Just("."), Just("\n"), Just("=~"),
                ],
                0..40,
            )
        ) {
            let s: String = parts.concat();
            if let Ok(e) = parse(&s) {
                e.matches(&json!({"a": {"b": "x"}}));
            }
        }
    }
}
