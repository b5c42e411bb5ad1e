//! `carnet set ID FIELD VALUE`: one field of any record. The value is given
//! as text and the core converts and checks it against the field's type
//! (numbers, yes/no, dates, comma-separated lists); an empty value clears an
//! optional field. Writing a field also resolves a conflict on it.

use carnet_core::Store;
use serde_json::{Value, json};

use super::parse_id;
use crate::SetArgs;
use crate::error::Result;
use crate::output::Output;

pub fn run(store: &Store, a: &SetArgs) -> Result<Output> {
    let id = parse_id(&a.id)?;
    let value = if a.value.trim().is_empty() {
        Value::Null
    } else {
        Value::String(a.value.clone())
    };
    let field = a.field.trim().replace('-', "_");
    store.set_field(id, &field, &value)?;
    Ok(Output::new(
        json!({ "id": id, "field": field }),
        format!("{id}: {field} updated"),
    ))
}
