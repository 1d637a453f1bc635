//! Where a job lives, and the isolation rules every folder the function deletes obeys.
//!
//! A job's root is `{JOB_PREFIX}{project_id}/jobs/{job_id}/` in `JOB_BUCKET`; its record is
//! `{root}job.json`. Both ids are validated [`Id`]s (one key segment each) and the root ends with
//! `/`, so the root of job `abc` is never a prefix of job `abcd`'s, nor project `p1`'s of `p10`'s.
//!
//! A deletion that outlives one invocation is carried by a ticket,
//! `{JOB_PREFIX}.deletions/{project_id}/{job_id}.json`: no project id starts with `.`, so the
//! tickets never meet job data.

use super::Id;
use crate::config::Config;
use crate::error::ApiError;
use crate::s3_names::{Folder, S3Path};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    /// The job's data, record included.
    pub data: Folder,
    /// The job's record: it exists exactly when the job does, and is deleted last.
    pub record_key: String,
    /// Where a deletion in progress keeps the rest of its work, in the same bucket.
    pub ticket_key: String,
}

const TICKETS: &str = ".deletions/";

impl JobLayout {
    pub fn new(config: &Config, project_id: &Id, job_id: &Id) -> JobLayout {
        let prefix = format!("{}{project_id}/jobs/{job_id}/", config.job_prefix);
        let record_key = format!("{prefix}job.json");
        let ticket_key = format!("{}{TICKETS}{project_id}/{job_id}.json", config.job_prefix);
        let data = Folder { bucket: config.job_bucket.clone(), prefix };
        JobLayout { data, record_key, ticket_key }
    }

    /// The project and job whose ticket `key` in `bucket` is; `None` for any other object.
    pub fn ticket_ids(config: &Config, bucket: &str, key: &str) -> Option<(Id, Id)> {
        if bucket != config.job_bucket {
            return None;
        }
        let rest = key.strip_prefix(config.job_prefix.as_str())?.strip_prefix(TICKETS)?;
        let (project, file) = rest.split_once('/')?;
        let job = file.strip_suffix(".json")?;
        Some((Id::parse("project_id", project).ok()?, Id::parse("job_id", job).ok()?))
    }

    /// The folder of the job's configuration sources, `{config_load_path}/{job_id}/`.
    ///
    /// It must be in `JOB_BUCKET` or a bucket of `CONFIG_BUCKETS`. In `JOB_BUCKET` it must stay out
    /// of the jobs area (`JOB_PREFIX` and below), where a chosen path could otherwise reach another
    /// job or project (`{JOB_PREFIX}p2/jobs/j9` + `/{job_id}/`), unless it lies inside this job.
    pub fn config_folder(
        &self,
        config: &Config,
        path: &S3Path,
        job_id: &Id,
    ) -> Result<Folder, ApiError> {
        const PARAM: &str = "offline_platform.config_load_path";
        let bucket = &path.bucket;
        if *bucket != config.job_bucket && !config.config_buckets.contains(bucket) {
            return Err(ApiError::invalid(
                PARAM,
                format!("bucket {bucket} is not one this function may delete from"),
            ));
        }
        let prefix = if path.prefix.is_empty() {
            format!("{job_id}/")
        } else {
            format!("{}/{job_id}/", path.prefix)
        };
        if *bucket == config.job_bucket {
            let inside_this_job = prefix.starts_with(&self.data.prefix);
            let jobs_area = &config.job_prefix;
            let overlaps_jobs =
                prefix.starts_with(jobs_area.as_str()) || jobs_area.starts_with(&prefix);
            if overlaps_jobs && !inside_this_job {
                return Err(ApiError::invalid(
                    PARAM,
                    format!("in bucket {bucket} it must lie outside the area that holds the jobs"),
                ));
            }
        }
        Ok(Folder { bucket: bucket.clone(), prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> Config {
        Config::from_lookup(|name| match name {
            "JOB_BUCKET" => Some("jobs".into()),
            "JOB_PREFIX" => Some(prefix.into()),
            "CONFIG_BUCKETS" => Some("cfg".into()),
            _ => None,
        })
        .unwrap()
    }

    fn id(s: &str) -> Id {
        Id::parse("id", s).unwrap()
    }

    fn path(bucket: &str, prefix: &str) -> S3Path {
        S3Path { bucket: bucket.into(), prefix: prefix.into() }
    }

    #[test]
    fn a_jobs_root_and_record_follow_the_layout() {
        let layout = JobLayout::new(&config(""), &id("p1"), &id("abc"));
        assert_eq!(layout.data, Folder { bucket: "jobs".into(), prefix: "p1/jobs/abc/".into() });
        assert_eq!(layout.record_key, "p1/jobs/abc/job.json");
        let layout = JobLayout::new(&config("res/v1/"), &id("p1"), &id("abc"));
        assert_eq!(layout.data.prefix, "res/v1/p1/jobs/abc/");
    }

    #[test]
    fn tickets_live_apart_from_every_project_and_name_their_job() {
        let c = config("res/");
        let layout = JobLayout::new(&c, &id("p1"), &id("abc"));
        assert_eq!(layout.ticket_key, "res/.deletions/p1/abc.json");
        assert!(!layout.ticket_key.starts_with("res/p1/"));
        assert_eq!(
            JobLayout::ticket_ids(&c, "jobs", &layout.ticket_key),
            Some((id("p1"), id("abc")))
        );
        for key in [
            "res/.deletions/p1/abc.txt",
            "res/.deletions/p1/a/b.json",
            "res/p1/jobs/abc/job.json",
            ".deletions/p1/abc.json",
            "res/.deletions/../abc.json",
            "res/.deletions/p1/.json",
        ] {
            assert_eq!(JobLayout::ticket_ids(&c, "jobs", key), None, "{key}");
        }
        assert_eq!(JobLayout::ticket_ids(&c, "other", &layout.ticket_key), None);
    }

    #[test]
    fn no_root_is_a_prefix_of_a_neighbours_root() {
        let c = config("");
        let root = |p: &str, j: &str| JobLayout::new(&c, &id(p), &id(j)).data.prefix;
        assert!(!root("p1", "abcd").starts_with(&root("p1", "abc")));
        assert!(!root("p10", "abc").starts_with(&root("p1", "abc")));
        assert!(!root("p1", "abc").starts_with(&root("p10", "abc")));
        assert!(!root("p1", "abc-1").starts_with(&root("p1", "abc")));
    }

    #[test]
    fn config_folders_are_the_path_plus_the_job_id() {
        let c = config("res/");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        let folder = layout.config_folder(&c, &path("cfg", "sources"), &id("j1")).unwrap();
        assert_eq!(folder, Folder { bucket: "cfg".into(), prefix: "sources/j1/".into() });
        let folder = layout.config_folder(&c, &path("cfg", ""), &id("j1")).unwrap();
        assert_eq!(folder.prefix, "j1/");
        let folder = layout.config_folder(&c, &path("jobs", "config"), &id("j1")).unwrap();
        assert_eq!(folder, Folder { bucket: "jobs".into(), prefix: "config/j1/".into() });
    }

    #[test]
    fn config_folders_outside_the_allowed_buckets_are_refused() {
        let c = config("");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        let err = layout.config_folder(&c, &path("other", "x"), &id("j1")).unwrap_err();
        assert_eq!(err.code(), "res.1001");
        assert!(err.to_string().contains("parameter(offline_platform.config_load_path)"));
    }

    #[test]
    fn config_folders_cannot_reach_into_other_jobs_or_projects() {
        for job_prefix in ["", "res/"] {
            let c = config(job_prefix);
            let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
            for prefix in [
                format!("{job_prefix}p2/jobs"), // the same job id in another project
                format!("{job_prefix}p1/jobs/j9"), // inside a neighbour job
                format!("{job_prefix}p1"),      // a project named like the job
                job_prefix.trim_end_matches('/').to_string(),
            ] {
                let result = layout.config_folder(&c, &path("jobs", &prefix), &id("j1"));
                assert_eq!(result.unwrap_err().code(), "res.1001", "{job_prefix:?} {prefix:?}");
            }
        }
        // A JOB_PREFIX equal to `{path}/{job_id}/` would put every job inside the folder.
        let c = config("top/j1/");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        assert!(layout.config_folder(&c, &path("jobs", "top"), &id("j1")).is_err());
    }

    #[test]
    fn config_folders_inside_the_job_itself_are_allowed() {
        let c = config("");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        let folder = layout.config_folder(&c, &path("jobs", "p1/jobs/j1/conf"), &id("j1")).unwrap();
        assert_eq!(folder.prefix, "p1/jobs/j1/conf/j1/");
    }
}
