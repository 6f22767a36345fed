//! Document bytes in the `chunks` table: split into parts of at most
//! [`PART_BYTES`] on write, concatenated in order on read.

use super::sql::{Sql, SqlError, SqlValue};
use myflashplay_client::DocumentId;

/// Largest part written: half the Durable Object's 2 MB value limit.
pub const PART_BYTES: usize = 1 << 20;

/// A full `save()`.
pub(crate) const SNAPSHOT: &str = "snapshot";
/// A `save_after` delta.
pub(crate) const INCREMENTAL: &str = "incremental";

/// Writes `bytes` as chunk (`kind`, `key`) of `doc`.
pub(crate) fn write<S: Sql>(
    sql: &S,
    doc: &DocumentId,
    kind: &str,
    key: u64,
    bytes: &[u8],
) -> Result<(), SqlError> {
    for (part, piece) in bytes.chunks(PART_BYTES).enumerate() {
        sql.exec(
            "INSERT OR REPLACE INTO chunks (document_id, kind, key, part, bytes) VALUES (?, ?, ?, ?, ?)",
            &[
                doc.to_string().into(),
                kind.into(),
                SqlValue::Integer(key as i64),
                SqlValue::Integer(part as i64),
                piece.into(),
            ],
        )?;
    }
    Ok(())
}

/// All bytes of `doc`: snapshot first, then deltas in write order.
pub(crate) fn read_all<S: Sql>(sql: &S, doc: &DocumentId) -> Result<Vec<u8>, SqlError> {
    let rows = sql.query(
        "SELECT bytes FROM chunks WHERE document_id = ? ORDER BY kind = 'snapshot' DESC, key, part",
        &[doc.to_string().into()],
    )?;
    let mut out = Vec::new();
    for row in &rows {
        if let Some(b) = row.first().and_then(SqlValue::as_bytes) {
            out.extend_from_slice(b);
        }
    }
    Ok(out)
}

/// Deletes every chunk of `doc` (compaction does this and writes the new
/// snapshot in the same transaction).
pub(crate) fn delete_all<S: Sql>(sql: &S, doc: &DocumentId) -> Result<(), SqlError> {
    sql.exec(
        "DELETE FROM chunks WHERE document_id = ?",
        &[doc.to_string().into()],
    )
}
