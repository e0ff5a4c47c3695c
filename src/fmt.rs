//! Numbers and p-values for people: the one formatting of the text in summaries and reports.

/// A number for people: 4 significant digits, scientific notation outside [1e-3, 1e5), "–" for
/// a non-finite value.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

/// A p-value for people: "< 1e-16" below machine precision, else 3 significant digits.
pub fn p_text(p: Option<f64>) -> String {
    match p {
        None => String::new(),
        Some(p) if p < 1e-16 => "< 1e-16".into(),
        Some(p) if p < 1e-3 => format!("{p:.2e}"),
        Some(p) => format!("{p:.3}"),
    }
}

/// Serde of an `f64` that may be non-finite: written as a number or `null` (as serde_json does
/// for NaN and ±∞), read back with `null` → NaN, so that a saved report deserialises.
pub mod nullable_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*x)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Serde of a `Vec<f64>` whose entries may be non-finite (`null` ↔ NaN), as [`nullable_f64`].
/// With schemars, annotate the field `#[schemars(with = "Vec<Option<f64>>")]`.
pub mod nullable_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &[f64], s: S) -> Result<S::Ok, S::Error> {
        x.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<Option<f64>>::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// Serde of a row-major matrix `Vec<Vec<f64>>` whose entries may be non-finite (`null` ↔ NaN).
/// With schemars, annotate the field `#[schemars(with = "Vec<Vec<Option<f64>>>")]`.
pub mod nullable_matrix {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        x.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let v = Vec::<Vec<Option<f64>>>::deserialize(d)?;
        Ok(v.into_iter()
            .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
            .collect())
    }
}

/// Serde of an `Option<Vec<f64>>` whose entries may be non-finite (`null` ↔ NaN).
pub mod opt_nullable_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
        x.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        let v = Option::<Vec<Option<f64>>>::deserialize(d)?;
        Ok(v.map(|v| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect()))
    }
}

/// Serde of an `Option<f64>` whose value may be non-finite: `null` reads back as `Some(NaN)`
/// (an absent key is `None` through `#[serde(default)]`).
pub mod opt_nullable_f64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        x.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Some(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN)))
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Holder {
        #[serde(with = "super::nullable_vec")]
        v: Vec<f64>,
        #[serde(with = "super::nullable_matrix")]
        m: Vec<Vec<f64>>,
    }

    #[test]
    fn non_finite_entries_round_trip_as_null() {
        let h = Holder {
            v: vec![1.0, f64::NAN],
            m: vec![vec![f64::INFINITY, 2.0]],
        };
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, r#"{"v":[1.0,null],"m":[[null,2.0]]}"#);
        let back: Holder = serde_json::from_str(&s).unwrap();
        assert!(back.v[1].is_nan() && back.m[0][0].is_nan() && back.m[0][1] == 2.0);
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(1.0e-5), "1.000e-5");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(num(0.0), "0");
    }
}
