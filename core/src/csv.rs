//! The one CSV writer of the product: the server's `/v1/records` export, the
//! access-log export and every dashboard download write through
//! [`CsvWriter`], so that a rule about spreadsheets is kept in one place.
//!
//! The rule: a CSV file from Carnet is opened in a spreadsheet, and its text
//! comes from the field (a place, a note, a resident's name) or from anyone
//! who can sync a record. A cell that starts with `=`, `+`, `-` or `@` is run
//! as a formula by Excel and LibreOffice (`=HYPERLINK(...)`, `=cmd|...`), and
//! one that starts with a tab or a carriage return can hide such a start, so
//! every **text** cell with one of these first characters is written with a
//! leading `'`: spreadsheets show it as text and run nothing
//! ([`neutralise`]).
//!
//! Numbers are the exception, and only numbers the product itself formats
//! from a typed value ([`Cell::Int`], [`Cell::UInt`], [`Cell::Float`]): the
//! text Rust writes for an integer or a float is digits, a sign, a point and
//! an exponent, which no spreadsheet can run, so a negative number (a
//! longitude west of Greenwich) stays a number a formula can sum. A value
//! that arrives as text is always [`Cell::Text`] and always neutralised, even
//! when it looks like `-12`.

use std::borrow::Cow;
use std::io::Write;

use crate::{Error, Result};

/// The first characters that make a spreadsheet run a cell, or hide a start
/// that does.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Text as a spreadsheet will show it without running it: `'` before a cell
/// that starts with one of [`FORMULA_STARTS`], the text itself otherwise.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// How a file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 4180: `,` separators, no byte-order mark. For other software
    /// (the server's API).
    Standard,
    /// `;` separators and a UTF-8 byte-order mark: how French spreadsheet
    /// software opens a file without an import dialog (the dashboard's
    /// downloads).
    Spreadsheet,
}

/// One cell of a row. Text is neutralised when written; numbers are
/// written as Rust formats them (see the module documentation for why).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Anything that is not a number the product typed: neutralised.
    Text(Cow<'a, str>),
    /// A signed integer the product holds as a number.
    Int(i64),
    /// A count.
    UInt(u64),
    /// A decimal the product holds as a number.
    Float(f64),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(Cow::Borrowed(s.as_str()))
    }
}

impl From<String> for Cell<'static> {
    fn from(s: String) -> Self {
        Cell::Text(Cow::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for Cell<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Cell::Text(s)
    }
}

impl From<i64> for Cell<'static> {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

impl From<u64> for Cell<'static> {
    fn from(n: u64) -> Self {
        Cell::UInt(n)
    }
}

impl From<f64> for Cell<'static> {
    fn from(n: f64) -> Self {
        Cell::Float(n)
    }
}

fn csv_error(e: impl std::fmt::Display) -> Error {
    // The csv crate's messages name positions and lengths, never a value.
    Error::Io(format!("writing CSV: {e}"))
}

/// A CSV file being written, row by row, with every text cell neutralised.
pub struct CsvWriter<W: Write = Vec<u8>> {
    inner: csv::Writer<W>,
}

impl CsvWriter<Vec<u8>> {
    /// A file written in memory (a download, a response body).
    pub fn new(dialect: Dialect) -> CsvWriter<Vec<u8>> {
        let mut buf = Vec::new();
        if dialect == Dialect::Spreadsheet {
            buf.extend_from_slice("\u{feff}".as_bytes());
        }
        CsvWriter {
            inner: Self::builder(dialect).from_writer(buf),
        }
    }

    /// The file's bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.into_inner()
    }
}

impl<W: Write> CsvWriter<W> {
    fn builder(dialect: Dialect) -> csv::WriterBuilder {
        let mut b = csv::WriterBuilder::new();
        if dialect == Dialect::Spreadsheet {
            b.delimiter(b';');
        }
        b
    }

    /// A file written to `out` (a file, standard output); the byte-order
    /// mark of [`Dialect::Spreadsheet`] is written at once.
    pub fn to_writer(mut out: W, dialect: Dialect) -> Result<CsvWriter<W>> {
        if dialect == Dialect::Spreadsheet {
            out.write_all("\u{feff}".as_bytes()).map_err(csv_error)?;
        }
        Ok(CsvWriter {
            inner: Self::builder(dialect).from_writer(out),
        })
    }

    /// Writes one row (headers are a row of text). Every row of a file must
    /// have as many cells as the first.
    pub fn write_row<'a, I>(&mut self, cells: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Into<Cell<'a>>,
    {
        for cell in cells {
            let written = match cell.into() {
                Cell::Text(t) => match neutralise(&t) {
                    Cow::Borrowed(_) => self.inner.write_field(t.as_bytes()),
                    Cow::Owned(safe) => self.inner.write_field(safe.as_bytes()),
                },
                Cell::Int(n) => self.inner.write_field(n.to_string()),
                Cell::UInt(n) => self.inner.write_field(n.to_string()),
                Cell::Float(n) => self.inner.write_field(n.to_string()),
            };
            written.map_err(csv_error)?;
        }
        self.inner.write_record(None::<&[u8]>).map_err(csv_error)
    }

    /// Flushes and returns the destination.
    pub fn into_inner(self) -> Result<W> {
        self.inner.into_inner().map_err(|e| csv_error(e.error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .from_reader(bytes)
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn every_formula_start_is_neutralised_in_text() {
        for start in FORMULA_STARTS {
            let text = format!("{start}1+1");
            assert_eq!(neutralise(&text), format!("'{text}"), "{start:?}");
            let mut w = CsvWriter::new(Dialect::Standard);
            w.write_row([text.as_str()]).unwrap();
            assert_eq!(
                rows(&w.finish().unwrap(), b','),
                [[format!("'{text}")]],
                "{start:?}"
            );
        }
        for harmless in ["1+1", "'=1", " =1", "Tour 5", "", "é=1", "06 00 00 00 00"] {
            assert_eq!(neutralise(harmless), harmless);
        }
        assert!(matches!(neutralise("calme"), Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_the_product_types_stay_numbers_text_never_does() {
        let mut w = CsvWriter::new(Dialect::Standard);
        w.write_row([
            Cell::Int(-12),
            Cell::Float(-43.25),
            Cell::UInt(7),
            Cell::from("-12"),
            Cell::from(String::from("+33 6 00")),
        ])
        .unwrap();
        assert_eq!(
            rows(&w.finish().unwrap(), b','),
            [["-12", "-43.25", "7", "'-12", "'+33 6 00"]]
        );
    }

    #[test]
    fn spreadsheet_dialect_has_a_bom_and_semicolons_and_quotes_what_it_must() {
        let mut w = CsvWriter::new(Dialect::Spreadsheet);
        w.write_row(["Lieu", "Texte"]).unwrap();
        w.write_row(["Bât. B2; hall", "=A1\n\"deux\" lignes"])
            .unwrap();
        let bytes = w.finish().unwrap();
        let bom = "\u{feff}".as_bytes();
        assert!(bytes.starts_with(bom));
        assert_eq!(
            rows(&bytes[bom.len()..], b';'),
            [
                vec!["Lieu", "Texte"],
                vec!["Bât. B2; hall", "'=A1\n\"deux\" lignes"]
            ]
        );
    }

    #[test]
    fn rows_of_unequal_length_are_an_error_that_names_no_value() {
        let mut w = CsvWriter::new(Dialect::Standard);
        w.write_row(["Mme Exemple", "b"]).unwrap();
        let err = w.write_row(["Mme Exemple"]).unwrap_err().to_string();
        assert!(err.contains("CSV") && !err.contains("Exemple"), "{err}");
    }

    #[test]
    fn writes_to_any_destination() {
        let mut out = Vec::new();
        let mut w = CsvWriter::to_writer(&mut out, Dialect::Spreadsheet).unwrap();
        w.write_row(["@SUM(A1)"]).unwrap();
        w.into_inner().unwrap();
        assert_eq!(out, "\u{feff}'@SUM(A1)\n".as_bytes());
    }
}
