//! The job's vocabulary: its ids and types, as the RES API names them; and, in [`layout`], where
//! a job lives in the store.

pub mod layout;

use std::fmt;

/// The longest id accepted. The API page says 1 to 20 for `job_id`, yet its own example id has
/// 32 characters, as every RES id does; 64 leaves room without giving up the character rule.
pub const MAX_ID_CHARS: usize = 64;

/// 1 to 64 characters of `[A-Za-z0-9_-]`: always exactly one segment of an S3 key, never `.`,
/// `..`, a `/` or anything that could be decoded into one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

/// Why a text is not an [`Id`]; the text says it to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("it must have 1 to {MAX_ID_CHARS} characters, it has {0}")]
    Length(usize),
    #[error("only letters, digits, hyphens (-) and underscores (_) are allowed")]
    Characters,
}

impl Id {
    pub fn parse(value: &str) -> Result<Id, IdError> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(IdError::Length(chars));
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(IdError::Characters);
        }
        Ok(Id(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The RES job types ("Querying Job Lists"). `recall` is the Chinese page's name for `retrieval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Standard,
    Retrieval,
    Filter,
    Etl,
    Ranking,
    Nearline,
    Evaluation,
}

impl JobType {
    pub const ACCEPTED: &'static str =
        "standard, retrieval (or recall), filter, etl, ranking, nearline, evaluation";

    pub fn parse(value: &str) -> Option<JobType> {
        Some(match value {
            "standard" => JobType::Standard,
            "retrieval" | "recall" => JobType::Retrieval,
            "filter" => JobType::Filter,
            "etl" => JobType::Etl,
            "ranking" => JobType::Ranking,
            "nearline" => JobType::Nearline,
            "evaluation" => JobType::Evaluation,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Standard => "standard",
            JobType::Retrieval => "retrieval",
            JobType::Filter => "filter",
            JobType::Etl => "etl",
            JobType::Ranking => "ranking",
            JobType::Nearline => "nearline",
            JobType::Evaluation => "evaluation",
        }
    }

    /// The page: `offline_platform` "is mandatory when type is set to etl, retrieval, filter,
    /// or standard but optional in other conditions".
    pub fn needs_offline_platform(self) -> bool {
        matches!(self, JobType::Standard | JobType::Retrieval | JobType::Filter | JobType::Etl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_character_and_length_rules() {
        assert!(Id::parse("a").is_ok());
        assert!(Id::parse("A-z_09").is_ok());
        assert!(Id::parse(&"x".repeat(64)).is_ok());
        for (value, err) in [
            ("", IdError::Length(0)),
            (&"x".repeat(65) as &str, IdError::Length(65)),
            ("..", IdError::Characters),
            ("a/b", IdError::Characters),
            ("a%2Fb", IdError::Characters),
            ("a b", IdError::Characters),
            ("a.b", IdError::Characters),
            ("аbc", IdError::Characters),  // Cyrillic а, a look-alike
            ("ａbc", IdError::Characters), // full-width
        ] {
            assert_eq!(Id::parse(value), Err(err), "{value:?}");
        }
    }
}
