//! A small VNN-LIB reader.
//!
//! Supported: `(declare-const X_i Real)` / `(declare-const Y_j Real)`, `(assert F)` where `F` is
//! built from `and`, `or` and the comparisons `<=`, `>=`, `<`, `>` over linear terms (`+`, `-`,
//! `*` by constants, numerals in decimal or scientific notation), and `;` comments.
//!
//! The conjunction of all assertions is put in disjunctive normal form; each disjunct splits into
//! input bounds (atoms over `X` only, each bounding one variable) and output atoms (over `Y`
//! only). Disjuncts with the same input box are grouped: the result is a list of [`Case`]s, each
//! an input box with the disjunction of output clauses that is unsafe in it. Malformed input is an
//! error with `file:line:col: reason`.
//!
//! Numbers are read as the nearest f64. Strictness is kept: the engines prove the closed
//! (non-strict) property, which only makes the unsafe set larger, so `unsat` stays sound; a
//! counterexample must satisfy every comparison as written ([`Case::strict`], and the input box
//! [`Case::inner_lo`]..[`Case::inner_hi`] of points that satisfy the input constraints exactly).

use std::collections::HashMap;
use std::fmt;

/// An error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct VnnlibError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub reason: String,
}

impl fmt::Display for VnnlibError {
    /// `file:line:col: reason`, or `file: reason` for an error that has no place in the text
    /// (`line` 0: the file cannot be read, or what is missing is missing everywhere).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.reason)
        }
    }
}

impl std::error::Error for VnnlibError {}

/// One input box and the unsafe region in it (the disjunction of clauses; a clause is the
/// conjunction of `rows[i]·y ≤ rhs[i]` for its atoms).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// The input box the engines search: it contains every point of the input constraints (a
    /// bound `k·x ≤ r` with `r/k` inexact in f64 is rounded outward).
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
    /// The f64 points that satisfy the input constraints as written (strict ones strictly):
    /// `inner_lo ≥ lo`, `inner_hi ≤ hi`; empty when some `inner_lo > inner_hi`.
    pub inner_lo: Vec<f64>,
    pub inner_hi: Vec<f64>,
    /// Row-major `atoms × n_outputs`.
    pub rows: Vec<f64>,
    pub rhs: Vec<f64>,
    /// Per atom: `rows[i]·y < rhs[i]` (strict) rather than `≤`.
    pub strict: Vec<bool>,
    /// Clause `k` is atoms `clause_ends[k-1]..clause_ends[k]`.
    pub clause_ends: Vec<u32>,
}

/// A parsed property.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub n_inputs: usize,
    pub n_outputs: usize,
    pub cases: Vec<Case>,
}

impl Property {
    /// What a user should hear about before the verdict: an input region whose unsafe set
    /// constrains no output (a clause of only `0 ≤ 0` atoms), where every input is a
    /// counterexample. The verdict is still computed (`sat`); a warning, not an error, because
    /// such a property is well defined.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for (k, c) in self.cases.iter().enumerate() {
            let mut start = 0usize;
            for &end in &c.clause_ends {
                let (a, b) = (start, end as usize);
                let blank = (a..b)
                    .all(|i| c.rows[i * self.n_outputs..(i + 1) * self.n_outputs].iter().all(|&v| v == 0.0));
                if a < b && blank {
                    w.push(format!(
                        "input region {k} has a clause that constrains no output: every input in it is a counterexample"
                    ));
                    break;
                }
                start = b;
            }
        }
        w
    }
}

/// Most disjuncts the DNF may have.
const MAX_DISJUNCTS: usize = 1 << 16;
/// Most atoms over all disjuncts of the DNF: under 60 MB and 0.1 s at the limit (a 7 KB file of
/// nested `or`s reached 480 MB and 3 s against `1 << 22`, found by fuzzing); the largest property
/// of the VNN-COMP benchmarks has about 6,200.
const MAX_ATOMS: usize = 1 << 18;
/// Most reads of common atoms when the disjuncts become cases (every disjunct reads every
/// common atom): `ml4acopf_2023`'s 300-bus properties read their 804 input bounds for each of
/// 600 disjuncts (482,400); an input bound costs a comparison there, not memory.
const MAX_VISITS: usize = 1 << 24;
/// Deepest nesting of parentheses accepted.
const MAX_DEPTH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug)]
enum Sexp<'a> {
    Atom(&'a str, Pos),
    List(Vec<Sexp<'a>>, Pos),
}

impl Sexp<'_> {
    fn pos(&self) -> Pos {
        match self {
            Sexp::Atom(_, p) | Sexp::List(_, p) => *p,
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: usize,
    col: usize,
    file: &'a str,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, p: Pos, reason: impl Into<String>) -> Result<T, VnnlibError> {
        Err(VnnlibError { file: self.file.to_string(), line: p.line, col: p.col, reason: reason.into() })
    }
    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }
    fn bump(&mut self) {
        if self.bytes[self.i] == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if self.bytes[self.i] & 0xc0 != 0x80 {
            self.col += 1;
        }
        self.i += 1;
    }
    fn skip_ws(&mut self) {
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b' ' | b'\t' | b'\r' | b'\n' => self.bump(),
                b';' => {
                    while self.i < self.bytes.len() && self.bytes[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }
    /// Next top-level S-expression, or `None` at the end.
    fn next(&mut self) -> Result<Option<Sexp<'a>>, VnnlibError> {
        self.skip_ws();
        if self.i >= self.bytes.len() {
            return Ok(None);
        }
        // Iterative parse with an explicit stack (no recursion on deep nesting).
        let mut stack: Vec<(Vec<Sexp<'a>>, Pos)> = Vec::new();
        loop {
            self.skip_ws();
            let p = self.pos();
            if self.i >= self.bytes.len() {
                let open = stack.last().map_or(p, |s| s.1);
                return self.err(open, "unclosed '('");
            }
            let item = match self.bytes[self.i] {
                b'(' => {
                    if stack.len() >= MAX_DEPTH {
                        return self.err(p, "nesting too deep");
                    }
                    self.bump();
                    stack.push((Vec::new(), p));
                    continue;
                }
                b')' => {
                    self.bump();
                    match stack.pop() {
                        Some((items, start)) => Sexp::List(items, start),
                        None => return self.err(p, "unexpected ')'"),
                    }
                }
                _ => {
                    let start = self.i;
                    while self.i < self.bytes.len()
                        && !matches!(self.bytes[self.i], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b';')
                    {
                        self.bump();
                    }
                    Sexp::Atom(&self.src[start..self.i], p)
                }
            };
            match stack.last_mut() {
                Some((items, _)) => items.push(item),
                None => return Ok(Some(item)),
            }
        }
    }
}

/// A variable: input `X_i` or output `Y_j`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Var {
    X(usize),
    Y(usize),
}

/// A linear expression: constant + Σ coef·var.
#[derive(Clone, Debug, Default)]
struct Lin {
    c: f64,
    terms: Vec<(Var, f64)>,
}

impl Lin {
    fn scale(mut self, k: f64) -> Lin {
        self.c *= k;
        self.terms.iter_mut().for_each(|t| t.1 *= k);
        self
    }
    fn add(mut self, o: Lin) -> Lin {
        self.c += o.c;
        self.terms.extend(o.terms);
        self
    }
}

/// An atom `Σ coef·var ≤ rhs` (terms merged, zero coefficients dropped).
#[derive(Clone, Debug)]
struct Atom {
    /// Shared: the disjunctive normal form copies atoms into many clauses, and a copy that
    /// allocated was most of the reader's time on large forms.
    terms: std::rc::Rc<[(Var, f64)]>,
    rhs: f64,
    /// `<` rather than `≤`.
    strict: bool,
    pos: Pos,
}

/// A formula in disjunctive normal form, `common ∧ (d_1 ∨ … ∨ d_n)`: the atoms every disjunct
/// has, then each disjunct's own atoms stored flat (`ends[k]` is where `d_k` ends in `atoms`).
/// A box asserted atom by atom only grows `common`, and no step allocates per disjunct.
struct Dnf {
    common: Vec<Atom>,
    /// How many of `common` read outputs (each becomes a row of every disjunct's case; an
    /// input bound only narrows its box).
    common_outputs: usize,
    atoms: Vec<Atom>,
    ends: Vec<usize>,
}

impl Dnf {
    /// True: one empty disjunct.
    fn truth() -> Dnf {
        Dnf { common: Vec::new(), common_outputs: 0, atoms: Vec::new(), ends: vec![0] }
    }

    fn atom(a: Atom) -> Dnf {
        let output = a.terms.iter().any(|t| matches!(t.0, Var::Y(_)));
        Dnf { common: vec![a], common_outputs: usize::from(output), atoms: Vec::new(), ends: vec![0] }
    }

    /// Disjuncts.
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Disjunct `k`'s own atoms (without the common ones).
    fn clause(&self, k: usize) -> &[Atom] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.atoms[start..self.ends[k]]
    }
}

struct Reader<'a> {
    p: Parser<'a>,
    decl: HashMap<&'a str, Var>,
    n_x: usize,
    n_y: usize,
}

fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.is_empty()
        || !(b[0].is_ascii_digit() || ((b[0] == b'-' || b[0] == b'+' || b[0] == b'.') && b.len() > 1))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn var_name(s: &str) -> Option<Var> {
    let (k, rest) = if let Some(r) = s.strip_prefix("X_") {
        (0, r)
    } else if let Some(r) = s.strip_prefix("Y_") {
        (1, r)
    } else {
        return None;
    };
    if rest.is_empty() || rest.len() > 9 || !rest.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let i: usize = rest.parse().ok()?;
    Some(if k == 0 { Var::X(i) } else { Var::Y(i) })
}

impl<'a> Reader<'a> {
    fn term(&self, e: &Sexp<'a>) -> Result<Lin, VnnlibError> {
        match e {
            Sexp::Atom(s, p) => {
                if let Some(v) = parse_number(s) {
                    return Ok(Lin { c: v, terms: vec![] });
                }
                match self.decl.get(s) {
                    Some(&v) => Ok(Lin { c: 0.0, terms: vec![(v, 1.0)] }),
                    None if var_name(s).is_some() => {
                        self.p.err(*p, format!("variable '{s}' is not declared"))
                    }
                    None => self.p.err(*p, format!("expected a number or a declared variable, found '{s}'")),
                }
            }
            Sexp::List(items, p) => {
                let (head, args) = match items.split_first() {
                    Some((Sexp::Atom(h, _), a)) => (*h, a),
                    _ => return self.p.err(*p, "expected an operator"),
                };
                match head {
                    "+" => {
                        let mut acc = Lin::default();
                        for a in args {
                            acc = acc.add(self.term(a)?);
                        }
                        Ok(acc)
                    }
                    "-" => match args {
                        [] => self.p.err(*p, "'-' without operands"),
                        [a] => Ok(self.term(a)?.scale(-1.0)),
                        [a, rest @ ..] => {
                            let mut acc = self.term(a)?;
                            for r in rest {
                                acc = acc.add(self.term(r)?.scale(-1.0));
                            }
                            Ok(acc)
                        }
                    },
                    "*" => {
                        let mut acc = Lin { c: 1.0, terms: vec![] };
                        for a in args {
                            let t = self.term(a)?;
                            if acc.terms.is_empty() {
                                acc = t.scale(acc.c);
                            } else if t.terms.is_empty() {
                                acc = acc.scale(t.c);
                            } else {
                                return self.p.err(
                                    a.pos(),
                                    "product of two variables (only linear terms are supported)",
                                );
                            }
                        }
                        Ok(acc)
                    }
                    _ => self.p.err(*p, format!("unsupported term operator '{head}'")),
                }
            }
        }
    }

    /// DNF of a formula: a list of conjunctions of atoms.
    fn formula(&self, e: &Sexp<'a>) -> Result<Dnf, VnnlibError> {
        let Sexp::List(items, p) = e else {
            return self.p.err(e.pos(), "expected a formula in parentheses");
        };
        let (head, args) = match items.split_first() {
            Some((Sexp::Atom(h, _), a)) => (*h, a),
            _ => return self.p.err(*p, "expected an operator"),
        };
        match head {
            "and" => {
                let mut acc = Dnf::truth();
                for a in args {
                    acc = self.and(acc, self.formula(a)?, a.pos())?;
                }
                Ok(acc)
            }
            "or" => {
                let (mut atoms, mut ends) = (Vec::new(), Vec::new());
                for a in args {
                    let d = self.formula(a)?;
                    for k in 0..d.len() {
                        atoms.extend(d.clause(k).iter().chain(&d.common).cloned());
                        ends.push(atoms.len());
                        if ends.len() > MAX_DISJUNCTS || atoms.len() > MAX_ATOMS {
                            return self.p.err(a.pos(), "too many disjuncts");
                        }
                    }
                }
                if ends.is_empty() {
                    return self.p.err(*p, "empty 'or' (false) is not supported");
                }
                Ok(Dnf { common: Vec::new(), common_outputs: 0, atoms, ends })
            }
            "<=" | "<" | ">=" | ">" => {
                let [l, r] = args else {
                    return self.p.err(*p, format!("'{head}' needs exactly two operands"));
                };
                let (l, r) = (self.term(l)?, self.term(r)?);
                // l ≤ r  ⇔  l − r ≤ 0;  l ≥ r  ⇔  r − l ≤ 0.
                let d = if head.starts_with('<') { l.add(r.scale(-1.0)) } else { r.add(l.scale(-1.0)) };
                let mut terms: Vec<(Var, f64)> = Vec::new();
                for (v, k) in d.terms {
                    match terms.iter_mut().find(|t| t.0 == v) {
                        Some(t) => t.1 += k,
                        None => terms.push((v, k)),
                    }
                }
                terms.retain(|t| t.1 != 0.0);
                let rhs = -d.c;
                if !rhs.is_finite() || terms.iter().any(|t| !t.1.is_finite()) {
                    return self.p.err(*p, "a coefficient or constant is not finite");
                }
                let has_x = terms.iter().any(|t| matches!(t.0, Var::X(_)));
                let has_y = terms.iter().any(|t| matches!(t.0, Var::Y(_)));
                if has_x && has_y {
                    return self.p.err(*p, "constraints mixing inputs and outputs are not supported");
                }
                if has_x && terms.len() > 1 {
                    return self.p.err(*p, "input constraints must bound a single X variable");
                }
                Ok(Dnf::atom(Atom { terms: terms.into(), rhs, strict: !head.ends_with('='), pos: *p }))
            }
            _ => self.p.err(*p, format!("unsupported formula operator '{head}'")),
        }
    }

    fn and(&self, mut a: Dnf, mut b: Dnf, p: Pos) -> Result<Dnf, VnnlibError> {
        let n = a.len().saturating_mul(b.len());
        let own = a.atoms.len().saturating_mul(b.len()).saturating_add(b.atoms.len().saturating_mul(a.len()));
        let common_len = a.common.len().saturating_add(b.common.len());
        let common_outputs = a.common_outputs.saturating_add(b.common_outputs);
        // What is stored, what the cases will hold (common output atoms in every disjunct), and
        // how often the cases read a common atom.
        let stored = common_len.saturating_add(own);
        let rows = common_outputs.saturating_mul(n).saturating_add(own);
        if n > MAX_DISJUNCTS
            || stored > MAX_ATOMS
            || rows > MAX_ATOMS
            || common_len.saturating_mul(n) > MAX_VISITS
        {
            return self.p.err(p, "the disjunctive normal form is too large");
        }
        let mut common = std::mem::take(&mut a.common);
        common.append(&mut b.common);
        // One empty disjunct on either side (a conjunction of atoms, the common case): the
        // other side's disjuncts as they are.
        if a.len() == 1 && a.atoms.is_empty() {
            return Ok(Dnf { common, common_outputs, atoms: b.atoms, ends: b.ends });
        }
        if b.len() == 1 && b.atoms.is_empty() {
            return Ok(Dnf { common, common_outputs, atoms: a.atoms, ends: a.ends });
        }
        let (mut atoms, mut ends) = (Vec::with_capacity(own), Vec::with_capacity(n));
        for x in 0..a.len() {
            for y in 0..b.len() {
                atoms.extend(a.clause(x).iter().chain(b.clause(y)).cloned());
                ends.push(atoms.len());
            }
        }
        Ok(Dnf { common, common_outputs, atoms, ends })
    }
}

/// Parse a VNN-LIB property. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Property, VnnlibError> {
    let p = Parser { src: text, bytes: text.as_bytes(), i: 0, line: 1, col: 1, file };
    let mut r = Reader { p, decl: HashMap::new(), n_x: 0, n_y: 0 };
    let mut dnf = Dnf::truth();
    let mut seen_x = Vec::new();
    let mut seen_y = Vec::new();
    // Where each X_i is declared (the place an error about a missing bound points at).
    let mut x_decl: HashMap<usize, Pos> = HashMap::new();
    let mut any_assert = false;
    while let Some(e) = r.p.next()? {
        let Sexp::List(items, p) = &e else {
            return r.p.err(e.pos(), "expected '(' at top level");
        };
        let head = match items.first() {
            Some(Sexp::Atom(h, _)) => *h,
            _ => return r.p.err(*p, "expected a command"),
        };
        match head {
            "declare-const" => {
                let [_, Sexp::Atom(name, np), Sexp::Atom(ty, tp)] = items.as_slice() else {
                    return r.p.err(*p, "expected (declare-const NAME Real)");
                };
                if *ty != "Real" {
                    return r.p.err(*tp, format!("unsupported sort '{ty}' (only Real)"));
                }
                let v = match var_name(name) {
                    Some(v) => v,
                    None => {
                        return r.p.err(*np, format!("variable name '{name}' is not of the form X_i or Y_j"));
                    }
                };
                if r.decl.insert(name, v).is_some() {
                    return r.p.err(*np, format!("'{name}' is declared twice"));
                }
                match v {
                    Var::X(i) => {
                        r.n_x = r.n_x.max(i + 1);
                        seen_x.push(i);
                        x_decl.insert(i, *np);
                    }
                    Var::Y(j) => {
                        r.n_y = r.n_y.max(j + 1);
                        seen_y.push(j);
                    }
                }
            }
            "assert" => {
                let [_, f] = items.as_slice() else {
                    return r.p.err(*p, "expected (assert FORMULA)");
                };
                let d = r.formula(f)?;
                dnf = r.and(dnf, d, *p)?;
                any_assert = true;
            }
            "check-sat" | "get-model" | "set-logic" | "set-info" | "set-option" | "exit" => {}
            other => return r.p.err(*p, format!("unsupported command '{other}'")),
        }
    }
    let nowhere = Pos { line: 0, col: 0 };
    for (n, seen, v) in [(r.n_x, &seen_x, 'X'), (r.n_y, &seen_y, 'Y')] {
        if n == 0 {
            return r.p.err(nowhere, format!("no {v}_0 declared (expected (declare-const {v}_0 Real) ...)"));
        }
        if let Some(k) = (0..n).find(|k| !seen.contains(k)) {
            return r.p.err(nowhere, format!("{v}_{k} is not declared, but {v}_{} is", n - 1));
        }
    }
    if !any_assert {
        return r.p.err(nowhere, "no assertion");
    }
    let (nx, ny) = (r.n_x, r.n_y);
    // Group the disjuncts by input box.
    let mut cases: Vec<Case> = Vec::new();
    let mut by_box: HashMap<Vec<u64>, usize> = HashMap::new();
    for k in 0..dnf.len() {
        let mut lo = vec![f64::NEG_INFINITY; nx];
        let mut hi = vec![f64::INFINITY; nx];
        // Where each input's tightest bound is written (an empty box names both).
        let (mut lo_at, mut hi_at) = (vec![nowhere; nx], vec![nowhere; nx]);
        let (mut inner_lo, mut inner_hi) = (lo.clone(), hi.clone());
        let mut outs: Vec<&Atom> = Vec::new();
        let mut empty = false;
        for a in dnf.common.iter().chain(dnf.clause(k)) {
            match &a.terms[..] {
                [] => {
                    // 0 ≤ rhs (or 0 < rhs): true (drop) or false (the disjunct is empty).
                    if a.rhs < 0.0 || (a.strict && a.rhs == 0.0) {
                        empty = true;
                    }
                }
                [(Var::X(i), k)] => {
                    let (outer, inner) = input_bound(*k, a.rhs, a.strict);
                    if *k > 0.0 {
                        if outer < hi[*i] {
                            hi_at[*i] = a.pos;
                        }
                        hi[*i] = hi[*i].min(outer);
                        inner_hi[*i] = inner_hi[*i].min(inner);
                    } else {
                        if outer > lo[*i] {
                            lo_at[*i] = a.pos;
                        }
                        lo[*i] = lo[*i].max(outer);
                        inner_lo[*i] = inner_lo[*i].max(inner);
                    }
                }
                _ => outs.push(a),
            }
        }
        if empty {
            continue;
        }
        for i in 0..nx {
            if !lo[i].is_finite() || !hi[i].is_finite() {
                let side = if lo[i].is_finite() { "upper" } else { "lower" };
                let pos = x_decl.get(&i).copied().unwrap_or(nowhere);
                return r.p.err(pos, format!("X_{i} (declared here) has no {side} bound in an input region"));
            }
        }
        // An empty box would make the property hold vacuously: an error, not `unsat`.
        if let Some(i) = (0..nx).find(|&i| lo[i] > hi[i]) {
            let at = |p: Pos| if p.line == 0 { String::new() } else { format!(" (line {})", p.line) };
            return r.p.err(
                lo_at[i],
                format!(
                    "the input region is empty: X_{i} >= {}{} and X_{i} <= {}{}",
                    lo[i],
                    at(lo_at[i]),
                    hi[i],
                    at(hi_at[i])
                ),
            );
        }
        let key: Vec<u64> = lo.iter().chain(&hi).map(|v| v.to_bits()).collect();
        let ci = *by_box.entry(key).or_insert_with(|| {
            cases.push(Case {
                lo: lo.clone(),
                hi: hi.clone(),
                inner_lo: inner_lo.clone(),
                inner_hi: inner_hi.clone(),
                rows: vec![],
                rhs: vec![],
                strict: vec![],
                clause_ends: vec![],
            });
            cases.len() - 1
        });
        let c = &mut cases[ci];
        if outs.is_empty() {
            // No output condition: every input of the box is unsafe (0·y ≤ 0).
            c.rows.extend(std::iter::repeat_n(0.0, ny));
            c.rhs.push(0.0);
            c.strict.push(false);
        }
        for a in outs {
            let mut row = vec![0.0; ny];
            for &(v, k) in a.terms.iter() {
                if let Var::Y(j) = v {
                    row[j] += k;
                }
            }
            c.rows.extend(row);
            c.rhs.push(a.rhs);
            c.strict.push(a.strict);
        }
        c.clause_ends.push(c.rhs.len() as u32);
    }
    Ok(Property { n_inputs: nx, n_outputs: ny, cases })
}

/// The bound on `x` from `k·x ≤ rhs` (`<` when `strict`), `k ≠ 0`: an upper bound for `k > 0`, a
/// lower one for `k < 0`. Returns `(outer, inner)`: `outer` admits every real solution (rounded
/// outward when `rhs/k` is inexact), `inner` is the last f64 that is a solution.
fn input_bound(k: f64, rhs: f64, strict: bool) -> (f64, f64) {
    let b = rhs / k;
    // The sign of b·k − rhs, exactly (a fused multiply-add rounds the exact difference once).
    let r = b.mul_add(k, -rhs);
    // Toward the solutions: down for an upper bound, up for a lower one.
    let inward = |v: f64| if k > 0.0 { v.next_down() } else { v.next_up() };
    let outward = |v: f64| if k > 0.0 { v.next_up() } else { v.next_down() };
    // b·k − rhs > 0 means b is not a solution (for either sign of k).
    let outer = if r >= 0.0 { b } else { outward(b) };
    let inner = if r > 0.0 || (r == 0.0 && strict) { inward(b) } else { b };
    (outer, inner)
}

/// Whether bytes that are not UTF-8 start like a binary file (a NUL or another control byte
/// early on), which is what a model passed as the property looks like.
fn text_is_protobuf_like(b: &[u8]) -> bool {
    b.iter().take(64).any(|&c| c < 0x09 || (0x0e..0x20).contains(&c))
}

/// Read and parse a file (plain or gzip-compressed).
pub fn read(path: &std::path::Path) -> Result<Property, VnnlibError> {
    let file = path.display().to_string();
    let text = crate::files::read(path).map_err(|e| VnnlibError {
        file: file.clone(),
        line: 0,
        col: 0,
        reason: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(text).map_err(|e| VnnlibError {
        file: file.clone(),
        line: 0,
        col: 0,
        reason: if text_is_protobuf_like(e.as_bytes()) {
            "not UTF-8 text (this looks like a binary file, e.g. an ONNX model: the model comes first, then the property)".into()
        } else {
            format!("not UTF-8: {e}")
        },
    })?;
    parse(&text, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACAS_LIKE: &str = "; comment\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 -1.5e0))\n(assert (and (<= X_1 0.5) (> X_1 -0.5)))\n(assert (or (and (<= Y_0 Y_1)) (and (>= (+ Y_0 (* 2 Y_1)) 3) (< Y_1 -1))))\n";

    #[test]
    fn parses_boxes_and_clauses() {
        let p = parse(ACAS_LIKE, "t").unwrap();
        assert_eq!((p.n_inputs, p.n_outputs), (2, 2));
        assert_eq!(p.cases.len(), 1);
        let c = &p.cases[0];
        assert_eq!(c.lo, vec![-1.5, -0.5]);
        assert_eq!(c.hi, vec![1.0, 0.5]);
        assert_eq!(c.clause_ends, vec![1, 3]);
        assert_eq!(c.rows, vec![1.0, -1.0, -1.0, -2.0, 0.0, 1.0]);
        assert_eq!(c.rhs, vec![0.0, -3.0, -1.0]);
    }

    #[test]
    fn input_disjunction_gives_several_cases() {
        let t = "(declare-const X_0 Real)(declare-const Y_0 Real)\n(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))\n(assert (or (<= Y_0 0) (>= Y_0 5)))";
        let p = parse(t, "t").unwrap();
        assert_eq!(p.cases.len(), 2);
        assert_eq!(p.cases[1].lo, vec![2.0]);
        assert_eq!(p.cases[1].clause_ends, vec![1, 2]);
    }

    /// The factored form (atoms common to every disjunct kept once) gives what distributing by
    /// hand gives: common atoms inside an `or`, and after it, reach every disjunct.
    #[test]
    fn common_atoms_reach_every_disjunct() {
        let decl = "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)\n";
        let factored = "(assert (<= X_1 1))(assert (>= X_1 0))\n\
            (assert (or (and (>= X_0 0) (<= X_0 1) (<= Y_0 Y_1)) (and (>= X_0 2) (<= X_0 3))))\n\
            (assert (>= Y_0 5))";
        let by_hand = "(assert (or (and (<= X_1 1) (>= X_1 0) (>= X_0 0) (<= X_0 1) (<= Y_0 Y_1) (>= Y_0 5))\n\
            (and (<= X_1 1) (>= X_1 0) (>= X_0 2) (<= X_0 3) (>= Y_0 5))))";
        let (a, b) = (
            parse(&format!("{decl}{factored}"), "a").unwrap(),
            parse(&format!("{decl}{by_hand}"), "b").unwrap(),
        );
        assert_eq!(a.cases.len(), 2);
        for (x, y) in a.cases.iter().zip(&b.cases) {
            assert_eq!((&x.lo, &x.hi, &x.clause_ends), (&y.lo, &y.hi, &y.clause_ends));
            // The same rows, possibly in another order within the one clause.
            let rows = |c: &Case| {
                let mut r: Vec<Vec<u64>> = c
                    .rows
                    .chunks(2)
                    .zip(&c.rhs)
                    .map(|(r, b)| vec![r[0].to_bits(), r[1].to_bits(), b.to_bits()])
                    .collect();
                r.sort();
                r
            };
            assert_eq!(rows(x), rows(y));
        }
        assert_eq!((a.cases[0].lo.clone(), a.cases[0].hi.clone()), (vec![0.0, 0.0], vec![1.0, 1.0]));
        assert_eq!(a.cases[0].rhs.len(), 2);
        assert_eq!(a.cases[1].rhs.len(), 1);
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("(declare-const X_0 Real)\n(assert (<= X_0 (foo 1)))", "f.vnnlib").unwrap_err();
        assert_eq!(e.to_string(), "f.vnnlib:2:17: unsupported term operator 'foo'");
        let e = parse("(declare-const X_0 Real)\n(assert (<= X_0 1)", "f").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        let e = parse(
            "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (<= Y_0 1))",
            "f",
        )
        .unwrap_err();
        // The missing bound points at the variable's declaration.
        assert_eq!(e.to_string(), "f:1:16: X_0 (declared here) has no lower bound in an input region");
        assert!(parse("(declare-const X_0 Real)(assert (<= (* Y_0 X_0) 1))", "f").is_err());
        assert!(parse(")", "f").is_err());
        assert!(parse(&"(".repeat(100_000), "f").is_err());
    }

    /// An empty input box is an error naming the variable and both bounds' lines (never a
    /// vacuous `unsat`); missing declarations are named; an error without a place in the text
    /// has no position.
    #[test]
    fn empty_boxes_and_missing_declarations_are_errors() {
        let e = parse(
            "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n\
             (assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (>= X_1 2))\n(assert (<= X_1 1.5))\n\
             (assert (<= Y_0 0))",
            "f",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f:6:9: the input region is empty: X_1 >= 2 (line 6) and X_1 <= 1.5 (line 7)"
        );
        // In one disjunct of several, too.
        let e = parse(
            "(declare-const X_0 Real)(declare-const Y_0 Real)\n(assert (or (and (<= X_0 1) (>= X_0 0)) \
             (and (<= X_0 -1) (>= X_0 0))))\n(assert (<= Y_0 0))",
            "f",
        )
        .unwrap_err();
        assert!(e.reason.starts_with("the input region is empty: X_0 >= 0"), "{e}");
        // A single point is not empty.
        assert!(parse("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 1))(assert (<= Y_0 0))", "f").is_ok());
        let e = parse("", "f").unwrap_err();
        assert_eq!(e.to_string(), "f: no X_0 declared (expected (declare-const X_0 Real) ...)");
        let e = parse("(declare-const X_0 Real)(declare-const X_2 Real)(declare-const Y_0 Real)", "f")
            .unwrap_err();
        assert_eq!(e.to_string(), "f: X_1 is not declared, but X_2 is");
        let e = parse("(declare-const X_0 Real)", "f").unwrap_err();
        assert_eq!(e.to_string(), "f: no Y_0 declared (expected (declare-const Y_0 Real) ...)");
    }

    /// A property that constrains no output in a region is warned about (and is `sat` there).
    #[test]
    fn a_region_without_output_constraints_is_warned_about() {
        let head = "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)\
                    (assert (<= X_0 1))(assert (>= X_0 0))";
        let p = parse(head, "f").unwrap();
        assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
        let p = parse(&format!("{head}(assert (or (<= Y_0 Y_1) (<= (* 0 Y_0) 0)))"), "f").unwrap();
        assert_eq!(p.warnings().len(), 1, "{:?}", p.warnings());
        let p = parse(&format!("{head}(assert (<= Y_0 Y_1))"), "f").unwrap();
        assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    }

    /// Found by fuzzing: 6.7 KB of nested `or`s whose disjunctive normal form took 480 MB and 3 s
    /// before the atom limit refused it; now 53 MB and 60 ms (test process included).
    #[test]
    fn a_dnf_bomb_is_refused() {
        let text = include_str!("../../tests/fixtures/fuzz/vnnlib_dnf_bomb.vnnlib");
        let e = parse(text, "bomb").unwrap_err();
        assert!(e.reason.contains("the disjunctive normal form is too large"), "{e}");
    }

    #[test]
    fn large_boxes_parse_in_linear_time() {
        let n = 20_000;
        let mut t = String::new();
        for i in 0..n {
            t += &format!("(declare-const X_{i} Real)\n");
        }
        t += "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n";
        for i in 0..n {
            t += &format!("(assert (<= X_{i} 0.5))\n(assert (>= X_{i} -0.5))\n");
        }
        t += "(assert (or (and (>= Y_0 Y_1)) (and (<= Y_0 -1))))\n";
        let start = std::time::Instant::now();
        let p = parse(&t, "big").unwrap();
        assert_eq!((p.n_inputs, p.cases.len(), p.cases[0].clause_ends.len()), (n, 1, 2));
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
    }

    /// `ml4acopf_2023`'s 300-bus properties: 804 input bounds, then an `or` of 600 output
    /// atoms. Counting the input bounds once per disjunct (482,400 atoms) refused them.
    #[test]
    fn many_input_bounds_with_many_disjuncts_parse() {
        let (nx, ny) = (402, 300);
        let mut t = String::new();
        for i in 0..nx {
            t += &format!("(declare-const X_{i} Real)\n(assert (<= X_{i} 0.5))\n(assert (>= X_{i} -0.5))\n");
        }
        t += "(assert (or\n";
        for j in 0..ny {
            t += &format!("(and (>= Y_{j} 1.06))\n(and (<= Y_{j} 0.94))\n");
        }
        t += "))\n";
        let decl: String = (0..ny).map(|j| format!("(declare-const Y_{j} Real)\n")).collect();
        let p = parse(&(decl + &t), "acopf").unwrap();
        assert_eq!((p.n_inputs, p.cases.len(), p.cases[0].clause_ends.len()), (nx, 1, 2 * ny));
        assert_eq!(p.cases[0].rhs.len(), 2 * ny);
    }

    #[test]
    fn dnf_blow_up_is_refused() {
        let mut t = String::from(
            "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 0))",
        );
        for _ in 0..24 {
            t += "(assert (or (<= Y_0 1) (>= Y_0 2)))";
        }
        let e = parse(&t, "f").unwrap_err();
        assert!(e.reason.contains("too large"), "{e}");
    }
}
