//! `--ids` and `--targets`: comma-separated token ids, batch rows separated by ';'.

use super::CliResult;
use kgpt::train::Batch;

/// "1, 2,3" → [1, 2, 3]. An empty string is no ids; an empty id ("1,,2", a leading or
/// trailing comma) is an error, as is anything that is not a whole number.
pub(super) fn parse_ids(s: &str) -> CliResult<Vec<u32>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, x)| {
            if x.is_empty() {
                return Err(format!(
                    "empty token id at position {} of '{s}' (expected comma-separated integers)",
                    i + 1
                ));
            }
            x.parse::<u32>()
                .map_err(|_| format!("'{x}' is not a token id (expected comma-separated integers)"))
        })
        .collect()
}

/// "1,2,3;4,5,6" → a batch; every row the same length.
pub(super) fn parse_batch(ids: &str, targets: &str) -> CliResult<Batch> {
    let rows: Vec<Vec<u32>> = ids.split(';').map(parse_ids).collect::<CliResult<_>>()?;
    let trows: Vec<Vec<u32>> = targets
        .split(';')
        .map(parse_ids)
        .collect::<CliResult<_>>()?;
    if rows.len() != trows.len() {
        return Err(format!(
            "{} id rows but {} target rows",
            rows.len(),
            trows.len()
        ));
    }
    let t = rows[0].len();
    if t == 0 {
        return Err("empty id row".into());
    }
    for (i, (r, tr)) in rows.iter().zip(&trows).enumerate() {
        if r.len() != t || tr.len() != t {
            return Err(format!(
                "row {i}: {} ids and {} targets, expected {t} of each (all rows the same length)",
                r.len(),
                tr.len()
            ));
        }
    }
    Ok(Batch {
        inputs: rows.concat(),
        targets: trows.concat(),
        b: rows.len(),
        t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_comma_separated_integers_and_an_empty_id_is_an_error() {
        assert_eq!(parse_ids("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids("").unwrap(), Vec::<u32>::new());
        for bad in ["1,,2", ",1", "1,", "1, ,2"] {
            let e = parse_ids(bad).unwrap_err();
            assert!(e.contains("empty token id"), "{bad}: {e}");
        }
        assert!(parse_ids("1,x").unwrap_err().contains("not a token id"));
        assert!(parse_batch("1,2;3,,4", "2,3;4,5")
            .unwrap_err()
            .contains("empty token id"));
    }
}
