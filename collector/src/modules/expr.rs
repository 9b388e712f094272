//! The arithmetic of a profile's fields: numbers, column names, `+ - * / ^`, parentheses and
//! `a ?? b` (b where the agent has no a: newer and older columns of one MIB), evaluated over
//! one row's numeric values (`100 - idle`, `used / (used + free) * 100`,
//! `value * 10 ^ (3 * (scale - 9) - precision)`). Parsed once when the profile loads; a row
//! missing a column, or a division by zero, gives no value rather than a wrong one.

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Column(Arc<str>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    Either(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl Expr {
    /// Parses `text`; the error says what was expected and at which character.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let e = p.either()?;
        p.space();
        if p.at < p.s.len() {
            return Err(format!(
                "unexpected {:?} at character {} of {text:?}",
                p.s[p.at] as char,
                p.at + 1
            ));
        }
        Ok(e)
    }

    /// The value over `row`, or `None` when a column is missing or the result is not finite.
    pub fn eval(&self, row: &dyn Fn(&str) -> Option<f64>) -> Option<f64> {
        let v = match self {
            Expr::Num(n) => *n,
            Expr::Column(c) => row(c)?,
            Expr::Neg(e) => -e.eval(row)?,
            Expr::Either(a, b) => return a.eval(row).or_else(|| b.eval(row)),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(row)?, b.eval(row)?);
                match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / b,
                    Op::Pow => a.powf(b),
                }
            }
        };
        v.is_finite().then_some(v)
    }

    /// Every column the expression reads.
    pub fn columns(&self, out: &mut Vec<Arc<str>>) {
        match self {
            Expr::Num(_) => {}
            Expr::Column(c) => out.push(c.clone()),
            Expr::Neg(e) => e.columns(out),
            Expr::Bin(_, a, b) | Expr::Either(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        let hit = self.s.get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    fn either(&mut self) -> Result<Expr, String> {
        let first = self.sum()?;
        self.space();
        if self.s[self.at.min(self.s.len())..].starts_with(b"??") {
            self.at += 2;
            return Ok(Expr::Either(Box::new(first), Box::new(self.either()?)));
        }
        Ok(first)
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.left_to_right(&[(b'+', Op::Add), (b'-', Op::Sub)], Self::product)
    }

    fn product(&mut self) -> Result<Expr, String> {
        self.left_to_right(&[(b'*', Op::Mul), (b'/', Op::Div)], Self::power)
    }

    /// Operands of `next` joined by any of `ops`, grouped from the left (`a - b - c`).
    fn left_to_right(&mut self, ops: &[(u8, Op)], next: fn(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        let mut e = next(self)?;
        while let Some(&(_, op)) = ops.iter().find(|(c, _)| self.eat(*c)) {
            e = Expr::Bin(op, Box::new(e), Box::new(next(self)?));
        }
        Ok(e)
    }

    /// `^` binds tighter than `*` and to the right, as in arithmetic.
    fn power(&mut self) -> Result<Expr, String> {
        let base = self.unary()?;
        if self.eat(b'^') {
            return Ok(Expr::Bin(Op::Pow, Box::new(base), Box::new(self.power()?)));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat(b'-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat(b'(') {
            let e = self.either()?;
            if !self.eat(b')') {
                return Err(format!("expected ')' at character {}", self.at + 1));
            }
            return Ok(e);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        self.space();
        let start = self.at;
        let word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.';
        while self.s.get(self.at).is_some_and(word) {
            self.at += 1;
        }
        let w = std::str::from_utf8(&self.s[start..self.at]).unwrap_or_default();
        match w.as_bytes().first() {
            None => Err(format!("expected a number or a column at character {}", start + 1)),
            Some(c) if c.is_ascii_digit() => w.parse().map(Expr::Num).map_err(|_| format!("{w:?} is not a number")),
            Some(_) => Ok(Expr::Column(w.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, vars: &[(&str, f64)]) -> Option<f64> {
        let row = |c: &str| vars.iter().find(|(n, _)| *n == c).map(|(_, v)| *v);
        Expr::parse(text).unwrap().eval(&row)
    }

    #[test]
    fn arithmetic_as_written_in_mibs() {
        assert_eq!(eval("100 - idle", &[("idle", 93.0)]), Some(7.0));
        assert_eq!(
            eval("used / (used + free) * 100", &[("used", 1.0), ("free", 3.0)]),
            Some(25.0)
        );
        assert_eq!(eval("2 ^ 3 ^ 2", &[]), Some(512.0), "right-associative");
        assert_eq!(eval("-x * 2", &[("x", 4.0)]), Some(-8.0));
        assert_eq!(eval("new ?? old", &[("old", 3.0)]), Some(3.0));
        assert_eq!(eval("new ?? old", &[("new", 1.0), ("old", 3.0)]), Some(1.0));
        let scaled = "value * 10 ^ (3 * (scale - 9) - precision)";
        assert_eq!(
            eval(scaled, &[("value", 415.0), ("scale", 9.0), ("precision", 1.0)]),
            Some(41.5)
        );
    }

    #[test]
    fn missing_columns_and_division_by_zero_give_nothing() {
        assert_eq!(eval("a + b", &[("a", 1.0)]), None);
        assert_eq!(eval("a / b", &[("a", 1.0), ("b", 0.0)]), None);
    }

    #[test]
    fn errors_name_the_place() {
        assert!(Expr::parse("a +").unwrap_err().contains("character 4"));
        assert!(Expr::parse("(a").unwrap_err().contains("expected ')'"));
        assert!(Expr::parse("a b").unwrap_err().contains("unexpected 'b'"));
    }
}
