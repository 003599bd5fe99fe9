//! Matching known secrets in text, and the rules that keep numbers which
//! only look like secrets from counting as leaks.
//!
//! Three matchers share the work:
//!
//! - Passwords and temporary passwords are random strings of 12 or more
//!   letters and digits, so they match case-sensitively anywhere, even
//!   inside a longer word.
//! - Answers are names such as "Ada Lovelace". People type them in any case,
//!   so they match ignoring ASCII case, but only as whole words: "Ann Lee"
//!   does not match inside "Joann Leeds".
//! - SSNs, dates of birth and codes are made of digits. The text is cut into
//!   numeric tokens, each a run of digits in which `-`, `.`, `/`, `:` or `,`
//!   may join two digits, and a secret matches only a whole token that is not
//!   part of a word. So `0.123456`, `12:00:00.123456` and `3,123,456` are one
//!   token each and never match the code `123456`, and neither do `id123456`
//!   or `123456ms`.
//!
//! Codes need one more rule, because six-digit numbers are everywhere. A
//! code never matches a bare value: a token whose nearest non-blank
//! neighbours are delimiters of data on both sides, `>` `[` `(` `,` `|` or
//! `":` before and `<` `]` `)` `,` `|` `}` `[` after, as in `<td>123456</td>`,
//! `[105000,100000]` or `"max":123456}`. Codes are strings everywhere the
//! service and harness handle them, so a leaked code shows up quoted or after
//! a label (`"code":"123456"`, `code=123456`, `code 123456`), and those match.

use std::collections::HashMap;
use std::io::BufRead;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, BuildError};

use super::book::{SecretBook, SecretKind};

/// The layout of a file, which decides what part of each line is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON document, such as report.json: only string values and keys
    /// are searched, never numbers. A string never spans lines in JSON.
    Json,
    /// JSON lines, such as run.log: a line that parses as a JSON object or
    /// array is searched like [`Format::Json`], any other line as text.
    JsonLines,
    /// Plain text, HTML or Markdown: the whole line is searched.
    Text,
}

/// Whether codes are matched in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codes {
    Match,
    /// Skip codes, for a file whose every digit comes from numbers or from
    /// strings that another scanned file carries.
    Skip,
}

/// Searches text for every secret of a [`SecretBook`].
pub struct LeakScanner {
    /// SSNs, dates of birth and codes in every rendering matched, keyed by
    /// the whole numeric token.
    numeric: HashMap<String, SecretKind>,
    /// Passwords and temporary passwords, case-sensitive.
    exact: AhoCorasick,
    exact_kinds: Vec<SecretKind>,
    /// Answers, ignoring ASCII case.
    answers: AhoCorasick,
}

impl LeakScanner {
    /// Builds the matchers from the secrets the book contains now.
    pub fn new(book: &SecretBook) -> Result<Self, BuildError> {
        let mut numeric = HashMap::new();
        book.with_kind(SecretKind::Ssn, |ssns| {
            for ssn in ssns {
                numeric.insert(ssn.clone(), SecretKind::Ssn);
                numeric.insert(ssn.replace('-', ""), SecretKind::Ssn);
            }
        });
        book.with_kind(SecretKind::DateOfBirth, |dates| {
            for date in dates {
                numeric.insert(date.clone(), SecretKind::DateOfBirth);
                if let Some(us_form) = month_day_year(date) {
                    numeric.insert(us_form, SecretKind::DateOfBirth);
                }
            }
        });
        book.with_kind(SecretKind::Code, |codes| {
            for code in codes {
                numeric.insert(code.clone(), SecretKind::Code);
            }
        });

        let mut exact_patterns = Vec::new();
        let mut exact_kinds = Vec::new();
        for kind in [SecretKind::Password, SecretKind::TemporaryPassword] {
            book.with_kind(kind, |secrets| {
                exact_patterns.extend(secrets.iter().cloned());
                exact_kinds.resize(exact_patterns.len(), kind);
            });
        }
        let exact = AhoCorasick::new(&exact_patterns)?;
        let answer_patterns: Vec<String> = book.with_kind(SecretKind::Answer, |answers| {
            answers.iter().cloned().collect()
        });
        let answers = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&answer_patterns)?;
        Ok(Self {
            numeric,
            exact,
            exact_kinds,
            answers,
        })
    }

    /// Reads `reader` line by line and calls `found` once for each line and
    /// kind of secret found on it, with the line number counted from 1.
    /// Invalid UTF-8 is read as U+FFFD, so a binary file cannot stop the scan.
    pub fn scan_lines(
        &self,
        mut reader: impl BufRead,
        format: Format,
        codes: Codes,
        mut found: impl FnMut(u64, SecretKind),
    ) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        let mut number = 0;
        loop {
            bytes.clear();
            if reader.read_until(b'\n', &mut bytes)? == 0 {
                return Ok(());
            }
            number += 1;
            let line = String::from_utf8_lossy(&bytes);
            let mut kinds = KindSet::default();
            self.scan_line(&line, format, codes, &mut kinds);
            for kind in kinds.iter() {
                found(number, kind);
            }
        }
    }

    /// Returns the kinds of secret found in `text`, a whole file.
    pub fn kinds_in(&self, text: &str, format: Format, codes: Codes) -> Vec<SecretKind> {
        let mut kinds = KindSet::default();
        for line in text.lines() {
            self.scan_line(line, format, codes, &mut kinds);
        }
        kinds.iter().collect()
    }

    fn scan_line(&self, line: &str, format: Format, codes: Codes, kinds: &mut KindSet) {
        let structural = match format {
            Format::Json => true,
            Format::JsonLines => is_json_line(line),
            Format::Text => false,
        };
        if structural {
            for_each_json_string(line, |text| self.scan_fragment(text, codes, kinds));
        } else {
            self.scan_fragment(line, codes, kinds);
        }
    }

    /// Searches one piece of text: a line, or the decoded contents of one
    /// JSON string.
    fn scan_fragment(&self, text: &str, codes: Codes, kinds: &mut KindSet) {
        let bytes = text.as_bytes();
        for (start, end) in numeric_tokens(bytes) {
            let Some(&kind) = self.numeric.get(&text[start..end]) else {
                continue;
            };
            let counts = match kind {
                SecretKind::Code => codes == Codes::Match && !is_bare_value(bytes, start, end),
                _ => true,
            };
            if counts {
                kinds.insert(kind);
            }
        }
        for found in self.exact.find_overlapping_iter(text) {
            kinds.insert(self.exact_kinds[found.pattern().as_usize()]);
        }
        let whole_word = |start: usize, end: usize| {
            (start == 0 || !is_word_byte(bytes[start - 1]))
                && (end == bytes.len() || !is_word_byte(bytes[end]))
        };
        if self
            .answers
            .find_overlapping_iter(text)
            .any(|found| whole_word(found.start(), found.end()))
        {
            kinds.insert(SecretKind::Answer);
        }
    }
}

/// A set of secret kinds, small enough to build for every line.
#[derive(Default)]
struct KindSet([bool; SecretKind::ALL.len()]);

impl KindSet {
    fn insert(&mut self, kind: SecretKind) {
        self.0[kind as usize] = true;
    }

    fn iter(&self) -> impl Iterator<Item = SecretKind> + '_ {
        SecretKind::ALL
            .into_iter()
            .filter(|kind| self.0[*kind as usize])
    }
}

/// Rewrites `YYYY-MM-DD` as `MM/DD/YYYY`.
fn month_day_year(date: &str) -> Option<String> {
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("{month}/{day}/{year}"))
}

/// Returns whether a line is a whole JSON object or array.
fn is_json_line(line: &str) -> bool {
    let trimmed = line.trim();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok()
}

/// Calls `visit` with the decoded contents of each JSON string literal on
/// `line`, keys and values alike; everything between them is skipped.
fn for_each_json_string(line: &str, mut visit: impl FnMut(&str)) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            // An escape takes the next byte with it, so `\"` does not close the string.
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        let literal = &line[start..end];
        match serde_json::from_str::<String>(literal) {
            Ok(decoded) => visit(&decoded),
            // An unterminated string at the end of a line is searched as it is.
            Err(_) => visit(&literal[1..]),
        }
        i = end;
    }
}

/// Returns the byte ranges of the numeric tokens in `bytes` that are not
/// part of a word.
fn numeric_tokens(bytes: &[u8]) -> Vec<(usize, usize)> {
    let is_joiner = |byte: u8| matches!(byte, b'-' | b'.' | b'/' | b':' | b',');
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        loop {
            if end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            } else if end + 1 < bytes.len()
                && is_joiner(bytes[end])
                && bytes[end + 1].is_ascii_digit()
            {
                end += 2;
            } else {
                break;
            }
        }
        let in_word = (start > 0 && is_word_byte(bytes[start - 1]))
            || (end < bytes.len() && is_word_byte(bytes[end]));
        if !in_word {
            tokens.push((start, end));
        }
        i = end;
    }
    tokens
}

/// Letters, digits, `_` and every byte of a non-ASCII character.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Returns whether the token at `start..end` is alone between
/// delimiters of data, as a number in a table cell, an array or a JSON
/// member does.
fn is_bare_value(bytes: &[u8], start: usize, end: usize) -> bool {
    let is_blank = |byte: &&u8| matches!(**byte, b' ' | b'\t');
    let mut before = bytes[..start].iter().rev().skip_while(is_blank);
    let after = bytes[end..].iter().find(|byte| !is_blank(byte));
    let opens = match before.next() {
        Some(b'>' | b'[' | b'(' | b',' | b'|') => true,
        Some(b':') => before.find(|byte| !is_blank(byte)) == Some(&b'"'),
        _ => false,
    };
    let closes = matches!(after, Some(b'<' | b']' | b')' | b',' | b'|' | b'}' | b'['));
    opens && closes
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSN: &str = "912-34-5678";
    const DATE_OF_BIRTH: &str = "1971-04-09";
    const PASSWORD: &str = "k3Vq9ZpXw2mRtY7bHn4L";
    const ANSWER: &str = "Ada Lovelace";
    const CODE: &str = "048213";
    const TEMPORARY_PASSWORD: &str = "Hq7MzP4wKx9T";

    fn scanner() -> LeakScanner {
        let book = SecretBook::default();
        book.add(SecretKind::Ssn, SSN);
        book.add(SecretKind::DateOfBirth, DATE_OF_BIRTH);
        book.add(SecretKind::Password, PASSWORD);
        book.add(SecretKind::Answer, ANSWER);
        book.add_code(CODE);
        book.add_temporary_password(TEMPORARY_PASSWORD);
        LeakScanner::new(&book).unwrap()
    }

    fn kinds(text: &str, format: Format) -> Vec<SecretKind> {
        scanner().kinds_in(text, format, Codes::Match)
    }

    #[test]
    fn finds_each_kind_in_a_log_line() {
        let cases = [
            (SecretKind::Ssn, format!("INFO checked ssn={SSN}")),
            (SecretKind::Ssn, "INFO checked ssn=912345678 ok".to_owned()),
            (SecretKind::DateOfBirth, format!("dob: {DATE_OF_BIRTH}.")),
            (SecretKind::DateOfBirth, "born 04/09/1971".to_owned()),
            (
                SecretKind::Password,
                format!("body={{password:{PASSWORD}}}"),
            ),
            (
                SecretKind::Answer,
                "answers=[\"  ADA LOVELACE  \"]".to_owned(),
            ),
            (SecretKind::Code, format!("sent code {CODE} to the phone")),
            (SecretKind::Code, format!("code={CODE}")),
            (
                SecretKind::TemporaryPassword,
                format!("letter text: Your temporary password is {TEMPORARY_PASSWORD}."),
            ),
        ];
        for (kind, line) in cases {
            assert_eq!(kinds(&line, Format::Text), vec![kind], "in {line:?}");
        }
    }

    #[test]
    fn finds_each_kind_in_a_json_string() {
        let cases = [
            (
                SecretKind::Ssn,
                format!(r#"{{"fields":{{"ssn":"{SSN}"}}}}"#),
            ),
            (
                SecretKind::DateOfBirth,
                format!(r#"{{"dob":"{DATE_OF_BIRTH}"}}"#),
            ),
            (
                SecretKind::Password,
                format!(r#"{{"message":"password {PASSWORD} rejected"}}"#),
            ),
            (
                SecretKind::Answer,
                r#"{"answer":"ada lovelace"}"#.to_owned(),
            ),
            (SecretKind::Code, format!(r#"{{"code":"{CODE}"}}"#)),
            (
                SecretKind::Code,
                format!(r#"{{"message":"code \"{CODE}\" accepted"}}"#),
            ),
            (
                SecretKind::TemporaryPassword,
                format!(r#"{{"body":"is {TEMPORARY_PASSWORD}"}}"#),
            ),
        ];
        for (kind, line) in cases {
            assert_eq!(kinds(&line, Format::JsonLines), vec![kind], "in {line}");
            assert_eq!(kinds(&line, Format::Json), vec![kind], "in {line}");
        }
    }

    #[test]
    fn finds_each_kind_in_a_json_key() {
        let secrets = [
            (SecretKind::Ssn, SSN),
            (SecretKind::DateOfBirth, DATE_OF_BIRTH),
            (SecretKind::Password, PASSWORD),
            (SecretKind::Answer, ANSWER),
            (SecretKind::Code, CODE),
            (SecretKind::TemporaryPassword, TEMPORARY_PASSWORD),
        ];
        for (kind, secret) in secrets {
            let report = format!("{{\n  \"error_codes\": {{\n    \"{secret}\": 3\n  }}\n}}\n");
            assert_eq!(kinds(&report, Format::Json), vec![kind], "key {kind:?}");
        }
    }

    #[test]
    fn reports_the_line_of_each_finding() {
        let text =
            format!("first line\n{{\"code\":\"{CODE}\"}}\nthird\nssn {SSN} and {PASSWORD}\n");
        let mut found = Vec::new();
        scanner()
            .scan_lines(
                text.as_bytes(),
                Format::JsonLines,
                Codes::Match,
                |line, kind| found.push((line, kind)),
            )
            .unwrap();
        assert_eq!(
            found,
            vec![
                (2, SecretKind::Code),
                (4, SecretKind::Ssn),
                (4, SecretKind::Password)
            ]
        );
    }

    #[test]
    fn code_as_json_number_ignored() {
        let report = format!(
            "{{\n  \"latency_us\": {{\n    \"p50\": {CODE},\n    \"max\": {}\n  }}\n}}\n",
            CODE.trim_start_matches('0')
        );
        assert_eq!(
            kinds(&report, Format::Json),
            vec![],
            "latency in report.json"
        );
        let log_line = format!(r#"{{"fields":{{"elapsed_us":{CODE},"message":"done"}}}}"#);
        assert_eq!(
            kinds(&log_line, Format::JsonLines),
            vec![],
            "number field in a log line"
        );
    }

    #[test]
    fn code_inside_longer_number_ignored() {
        let cases = [
            format!(r#"{{"timestamp":"2026-05-01T10:11:12.{CODE}Z"}}"#),
            format!("2026-05-01 10:11:12.{CODE} INFO started"),
            format!("took 0.{CODE} s"),
            format!("id 7{CODE}9 and 1{CODE}"),
            format!("flow 3fa{CODE}bc0d"),
            format!("ltr_{CODE}"),
            format!("elapsed {CODE}ms"),
            format!("count 1,{CODE} and 3-{CODE}"),
            format!(r#"{{"id":"a1{CODE}"}}"#),
        ];
        for line in cases {
            assert_eq!(kinds(&line, Format::JsonLines), vec![], "in {line:?}");
        }
    }

    #[test]
    fn code_as_bare_number_ignored() {
        let cases = [
            format!("<td>{CODE}</td>"),
            format!("| step | {CODE} | 2.0 |"),
            format!("data: [[50,0,99],[{CODE},100000,109999]]"),
            format!(r#"{{"min":{CODE},"max":{CODE}}}"#),
            format!("<td colspan=\"3\">{CODE} [200]</td>"),
            format!(r#"{{"message":"elapsed({CODE}) > cadence(2000)"}}"#),
        ];
        for line in cases {
            assert_eq!(kinds(&line, Format::Text), vec![], "in {line:?}");
        }
    }

    #[test]
    fn skipped_codes_do_not_hide_other_kinds() {
        let line = format!("| {CODE} | {SSN} |");
        assert_eq!(
            scanner().kinds_in(&line, Format::Text, Codes::Skip),
            vec![SecretKind::Ssn]
        );
        let labelled = format!("code {CODE}");
        assert_eq!(
            scanner().kinds_in(&labelled, Format::Text, Codes::Skip),
            vec![]
        );
    }

    #[test]
    fn answer_matches_only_whole_words() {
        assert_eq!(kinds("Joada Lovelaces", Format::Text), vec![]);
        assert_eq!(
            kinds("name=Ada Lovelace;", Format::Text),
            vec![SecretKind::Answer]
        );
    }

    #[test]
    fn plain_line_read_as_text() {
        let line = format!("[worker] code {CODE} sent");
        assert_eq!(kinds(&line, Format::JsonLines), vec![SecretKind::Code]);
    }
}
