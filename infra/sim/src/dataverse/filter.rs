//! `$filter`: a small recursive-descent parser over the contract's subset (`eq ne gt ge lt le`,
//! `and or not`, parentheses, `contains startswith endswith`, string literals with `''` escaping,
//! numbers, `true false null`, guids and dates) and its evaluation on a JSON row. Strings compare
//! case-insensitively, as Dataverse's default collation does.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A parsed boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(CmpOp, Operand, Operand),
    Function(Func, Operand, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Column(String),
    Literal(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Word(String),
    Literal(Value),
}

/// Parses a `$filter` value; the error is the message of the 400 answer.
pub fn parse(input: &str) -> Result<Expr, String> {
    let tokens = lex(input)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        input,
    };
    let expr = parser.or_expr()?;
    if parser.pos < parser.tokens.len() {
        return Err(parser.error("unexpected token"));
    }
    Ok(expr)
}

fn lex(input: &str) -> Result<Vec<(usize, Token)>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((start, Token::Open));
                i += 1;
            }
            ')' => {
                tokens.push((start, Token::Close));
                i += 1;
            }
            ',' => {
                tokens.push((start, Token::Comma));
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "Syntax error: unterminated string literal at position {start} in '{input}'."
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push((start, Token::Literal(Value::String(text))));
            }
            _ => {
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_-.:+".contains(chars[i]))
                {
                    i += 1;
                }
                if i == start {
                    return Err(format!(
                        "Syntax error: character '{c}' is not valid at position {start} in '{input}'."
                    ));
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push((start, classify(&word, start, input)?));
            }
        }
    }
    Ok(tokens)
}

/// A bare word is a guid, a date, a number, a keyword or a column name.
fn classify(word: &str, at: usize, input: &str) -> Result<Token, String> {
    if uuid::Uuid::try_parse(word).is_ok() && word.len() == 36 {
        return Ok(Token::Literal(Value::String(word.to_ascii_lowercase())));
    }
    let first = word.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() || first == '-' {
        if is_date(word) {
            return Ok(Token::Literal(Value::String(word.to_owned())));
        }
        let number = word.trim_end_matches(['m', 'M', 'l', 'L', 'd', 'D', 'f', 'F']);
        if let Ok(n) = number.parse::<i64>() {
            return Ok(Token::Literal(Value::from(n)));
        }
        if let Some(n) = number
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Ok(Token::Literal(Value::Number(n)));
        }
        return Err(format!(
            "Syntax error: '{word}' at position {at} is not a valid literal in '{input}'."
        ));
    }
    match word {
        "true" => return Ok(Token::Literal(Value::Bool(true))),
        "false" => return Ok(Token::Literal(Value::Bool(false))),
        "null" => return Ok(Token::Literal(Value::Null)),
        _ => {}
    }
    if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(Token::Word(word.to_owned()))
    } else {
        Err(format!(
            "Syntax error: '{word}' at position {at} is not a valid identifier in '{input}'."
        ))
    }
}

fn is_date(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

struct Parser<'a> {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        let at = self
            .tokens
            .get(self.pos)
            .map_or(self.input.len(), |(at, _)| *at);
        format!("Syntax error at position {at} in '{}': {what}.", self.input)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), String> {
        if self.peek() == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and_expr()?;
        while self.keyword("or") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or_expr()?;
            self.expect(Token::Close, "')'")?;
            return Ok(inner);
        }
        if let (Some(Token::Word(name)), Some((_, Token::Open))) =
            (self.peek(), self.tokens.get(self.pos + 1))
        {
            let func = match name.as_str() {
                "contains" => Func::Contains,
                "startswith" => Func::StartsWith,
                "endswith" => Func::EndsWith,
                other => return Err(self.error(&format!("unknown function '{other}'"))),
            };
            self.pos += 2;
            let a = self.operand()?;
            self.expect(Token::Comma, "','")?;
            let b = self.operand()?;
            self.expect(Token::Close, "')'")?;
            return Ok(Expr::Function(func, a, b));
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                _ => {
                    self.pos -= 1;
                    return Err(self.error("expected a comparison operator"));
                }
            },
            _ => {
                self.pos -= 1;
                return Err(self.error("expected a comparison operator"));
            }
        };
        let right = self.operand()?;
        Ok(Expr::Compare(op, left, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Token::Word(w))
                if !matches!(
                    w.as_str(),
                    "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le"
                ) =>
            {
                Ok(Operand::Column(w))
            }
            Some(Token::Literal(v)) => Ok(Operand::Literal(v)),
            _ => {
                self.pos -= 1;
                Err(self.error("expected a column or a literal"))
            }
        }
    }
}

impl Expr {
    /// Whether a row matches; a missing column is null.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Not(a) => !a.matches(row),
            Expr::Compare(op, a, b) => {
                let (a, b) = (a.value(row), b.value(row));
                match op {
                    CmpOp::Eq => equal(a, b),
                    CmpOp::Ne => !equal(a, b),
                    CmpOp::Gt => compare(a, b) == Some(Ordering::Greater),
                    CmpOp::Ge => matches!(compare(a, b), Some(Ordering::Greater | Ordering::Equal)),
                    CmpOp::Lt => compare(a, b) == Some(Ordering::Less),
                    CmpOp::Le => matches!(compare(a, b), Some(Ordering::Less | Ordering::Equal)),
                }
            }
            Expr::Function(func, a, b) => {
                let (Some(a), Some(b)) = (a.value(row).as_str(), b.value(row).as_str()) else {
                    return false;
                };
                let (a, b) = (a.to_lowercase(), b.to_lowercase());
                match func {
                    Func::Contains => a.contains(&b),
                    Func::StartsWith => a.starts_with(&b),
                    Func::EndsWith => a.ends_with(&b),
                }
            }
        }
    }
}

impl Operand {
    fn value<'a>(&'a self, row: &'a Map<String, Value>) -> &'a Value {
        match self {
            Operand::Column(name) => row.get(name).unwrap_or(&Value::Null),
            Operand::Literal(v) => v,
        }
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => compare(a, b) == Some(Ordering::Equal),
    }
}

/// Orders two JSON values the way the filter and `$orderby` need: numbers numerically, strings
/// case-insensitively, booleans false < true; mismatched types do not compare.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn eval(filter: &str, v: Value) -> bool {
        parse(filter).expect(filter).matches(&row(v))
    }

    #[test]
    fn escaped_quotes_and_case() {
        assert!(eval(
            "lastname eq 'O''Bryan'",
            json!({"lastname": "o'bryan"})
        ));
        assert!(!eval(
            "lastname eq 'O''Bryan'",
            json!({"lastname": "OBryan"})
        ));
        assert!(eval("contains(name,'''s')", json!({"name": "Contoso's"})));
    }

    #[test]
    fn precedence_and_not() {
        let r = json!({"a": 1, "b": 2, "c": "x"});
        assert!(eval("a eq 1 or b eq 3 and c eq 'y'", r.clone()));
        assert!(!eval("(a eq 1 or b eq 3) and c eq 'y'", r.clone()));
        assert!(eval(
            "not (c eq 'y') and b ge 2 and b le 2 and a lt 1.5",
            r.clone()
        ));
        assert!(eval("missing eq null and c ne null", r));
    }

    #[test]
    fn guids_dates_and_functions() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let r = json!({"_parentaccountid_value": id, "d": "2024-05-01", "name": "Contoso Ltd"});
        assert!(eval(
            &format!("_parentaccountid_value eq {}", id.to_uppercase()),
            r.clone()
        ));
        assert!(eval(
            "d gt 2024-01-31 and startswith(name,'contoso') and endswith(name,'LTD')",
            r
        ));
    }

    #[test]
    fn malformed_filters_are_errors() {
        for bad in [
            "name eq 'O'Bryan'",
            "name eq",
            "name 'x'",
            "(name eq 'x'",
            "name eq 'x' and",
            "frobnicate(name,'x')",
            "name eq 'unterminated",
            "name ~ 1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
