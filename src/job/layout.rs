//! Where a job lives, and the isolation rules every folder the function deletes obeys.
//!
//! A job's root is `{JOB_PREFIX}{project_id}/jobs/{job_id}/` in `JOB_BUCKET`; its record is
//! `{root}job.json`. Both ids are validated [`Id`]s (one key segment each) and the root ends with
//! `/`, so the root of job `abc` is never a prefix of job `abcd`'s, nor project `p1`'s of `p10`'s.
//!
//! A job's configuration sources are `{config_load_path}/{job_id}/`, in a bucket the function may
//! delete from, never in another job's area and, when `CONFIG_ROOTS` is set, under the caller's
//! project's root.

use super::Id;
use crate::config::{Config, ConfigRoot};
use crate::error::ApiError;
use crate::s3_names::{Folder, S3Path};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    project_id: Id,
    job_id: Id,
    /// The job's data, record included.
    pub data: Folder,
    /// The job's record: it exists exactly when the job does, and is deleted last.
    pub record_key: String,
}

impl JobLayout {
    pub fn new(config: &Config, project_id: &Id, job_id: &Id) -> JobLayout {
        let prefix = format!("{}{project_id}/jobs/{job_id}/", config.places.job_prefix);
        let record_key = format!("{prefix}job.json");
        let data = Folder { bucket: config.places.job_bucket.clone(), prefix };
        JobLayout { project_id: project_id.clone(), job_id: job_id.clone(), data, record_key }
    }

    /// The key of `folder` that a deletion of it must keep for last: the record, when the folder
    /// holds it (a configuration folder that is the job's own root does).
    pub fn kept_in<'a>(&'a self, folder: &Folder) -> Option<&'a str> {
        let holds =
            folder.bucket == self.data.bucket && self.record_key.starts_with(&folder.prefix);
        holds.then_some(self.record_key.as_str())
    }

    /// The folder of the job's configuration sources, `{config_load_path}/{job_id}/`.
    ///
    /// Inside the job itself it is always allowed. Anywhere else it must be in a bucket of
    /// `CONFIG_BUCKETS` (the buckets the function's policy lets it delete from; `JOB_BUCKET` too
    /// when listed there), and in `JOB_BUCKET` out of the jobs area (`JOB_PREFIX` and below), where
    /// a chosen path could otherwise reach another job or project (`{JOB_PREFIX}p2/jobs/j9` +
    /// `/{job_id}/`). When `CONFIG_ROOTS` is set, the path itself must lie under one of the roots
    /// of the job's project, so that the folder is always strictly inside a root, never one.
    pub fn config_folder(&self, config: &Config, path: &S3Path) -> Result<Folder, ApiError> {
        const PARAM: &str = "offline_platform.config_load_path";
        let places = &config.places;
        let (job_id, bucket) = (&self.job_id, &path.bucket);
        let path_folder =
            if path.prefix.is_empty() { String::new() } else { format!("{}/", path.prefix) };
        let prefix = format!("{path_folder}{job_id}/");
        let in_job_bucket = *bucket == places.job_bucket;
        if in_job_bucket && prefix.starts_with(&self.data.prefix) {
            return Ok(Folder { bucket: bucket.clone(), prefix });
        }
        let refuse = |reason: String| Err(ApiError::invalid(PARAM, reason));
        if !places.config_buckets.contains(bucket) {
            return refuse(if in_job_bucket {
                format!(
                    "in bucket {bucket} it must lie inside the job, unless CONFIG_BUCKETS lists the bucket"
                )
            } else {
                format!("bucket {bucket} is not one this function may delete from")
            });
        }
        let jobs_area = &places.job_prefix;
        if in_job_bucket
            && (prefix.starts_with(jobs_area.as_str()) || jobs_area.starts_with(&prefix))
        {
            return refuse(format!(
                "in bucket {bucket} it must lie outside the area that holds the jobs"
            ));
        }
        let project = self.project_id.as_str();
        let under_a_root = |root: &ConfigRoot| {
            root.bucket == *bucket && path_folder.starts_with(&root.prefix_for(project))
        };
        if !places.config_roots.is_empty() && !places.config_roots.iter().any(under_a_root) {
            let roots: Vec<String> = (places.config_roots.iter())
                .map(|root| format!("s3://{}/{}", root.bucket, root.prefix_for(project)))
                .collect();
            return refuse(format!(
                "it must lie under a configuration root of project {project}: {}",
                roots.join(", ")
            ));
        }
        Ok(Folder { bucket: bucket.clone(), prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> Config {
        with_roots(prefix, "")
    }

    fn with_roots(prefix: &str, roots: &str) -> Config {
        with_buckets(prefix, "cfg", roots)
    }

    fn with_buckets(prefix: &str, buckets: &str, roots: &str) -> Config {
        Config::from_lookup(|name| match name {
            "JOB_BUCKET" => Some("jobs".into()),
            "JOB_PREFIX" => Some(prefix.into()),
            "CONFIG_BUCKETS" => Some(buckets.into()),
            "CONFIG_ROOTS" => Some(roots.into()),
            _ => None,
        })
        .unwrap()
    }

    fn id(s: &str) -> Id {
        Id::parse(s).unwrap()
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
        let folder = layout.config_folder(&c, &path("cfg", "sources")).unwrap();
        assert_eq!(folder, Folder { bucket: "cfg".into(), prefix: "sources/j1/".into() });
        let folder = layout.config_folder(&c, &path("cfg", "")).unwrap();
        assert_eq!(folder.prefix, "j1/");
        // The job bucket, outside the job, only when CONFIG_BUCKETS lists it (as the policy must).
        assert_eq!(
            layout.config_folder(&c, &path("jobs", "config")).unwrap_err().code(),
            "res.1001"
        );
        let listed = with_buckets("res/", "cfg,jobs", "");
        let folder = layout.config_folder(&listed, &path("jobs", "config")).unwrap();
        assert_eq!(folder, Folder { bucket: "jobs".into(), prefix: "config/j1/".into() });
    }

    #[test]
    fn config_folders_outside_the_allowed_buckets_are_refused() {
        let c = config("");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        let err = layout.config_folder(&c, &path("other", "x")).unwrap_err();
        assert_eq!(err.code(), "res.1001");
        assert!(err.to_string().contains("parameter(offline_platform.config_load_path)"));
    }

    #[test]
    fn config_folders_cannot_reach_into_other_jobs_or_projects() {
        for job_prefix in ["", "res/"] {
            let c = with_buckets(job_prefix, "cfg,jobs", "");
            let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
            for prefix in [
                format!("{job_prefix}p2/jobs"), // the same job id in another project
                format!("{job_prefix}p1/jobs/j9"), // inside a neighbour job
                format!("{job_prefix}p1"),      // a project named like the job
                job_prefix.trim_end_matches('/').to_string(),
            ] {
                let result = layout.config_folder(&c, &path("jobs", &prefix));
                assert_eq!(result.unwrap_err().code(), "res.1001", "{job_prefix:?} {prefix:?}");
            }
        }
        // A JOB_PREFIX equal to `{path}/{job_id}/` would put every job inside the folder.
        let c = with_buckets("top/j1/", "cfg,jobs", "");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        assert!(layout.config_folder(&c, &path("jobs", "top")).is_err());
    }

    #[test]
    fn config_folders_inside_the_job_itself_are_allowed() {
        let c = config("");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        let folder = layout.config_folder(&c, &path("jobs", "p1/jobs/j1/conf")).unwrap();
        assert_eq!(folder.prefix, "p1/jobs/j1/conf/j1/");
    }

    #[test]
    fn the_record_is_kept_by_a_folder_that_holds_it() {
        let c = config("");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        // The job's own root, as a configuration folder, holds the record.
        let root = layout.config_folder(&c, &path("jobs", "p1/jobs")).unwrap();
        assert_eq!(root, layout.data);
        assert_eq!(layout.kept_in(&root), Some("p1/jobs/j1/job.json"));
        let inner = layout.config_folder(&c, &path("jobs", "p1/jobs/j1/conf")).unwrap();
        assert_eq!(layout.kept_in(&inner), None);
        let elsewhere = layout.config_folder(&c, &path("cfg", "p1/jobs")).unwrap();
        assert_eq!(layout.kept_in(&elsewhere), None);
    }

    #[test]
    fn config_roots_bind_each_project_to_its_own_folder() {
        let c = with_roots("", "s3://cfg/sources/{project_id}/, s3://cfg/shared/");
        let layout = JobLayout::new(&c, &id("p1"), &id("j1"));
        for (bucket, prefix) in [("cfg", "sources/p1"), ("cfg", "sources/p1/x"), ("cfg", "shared")]
        {
            assert!(layout.config_folder(&c, &path(bucket, prefix)).is_ok(), "{prefix}");
        }
        // A path whose folder would be a whole root (a job named like the root's last segment)
        // is outside the root: the folder must lie strictly inside one.
        let shared = JobLayout::new(&c, &id("p1"), &id("shared"));
        assert!(shared.config_folder(&c, &path("cfg", "")).is_err());
        let own = with_roots("", "s3://cfg/{project_id}/");
        let named_like_project = JobLayout::new(&own, &id("p1"), &id("p1"));
        assert!(named_like_project.config_folder(&own, &path("cfg", "")).is_err());
        assert!(named_like_project.config_folder(&own, &path("cfg", "p1")).is_ok());
        for (bucket, prefix) in
            [("cfg", "sources/p2"), ("cfg", "sources"), ("cfg", "sources/p10"), ("cfg", "other")]
        {
            let err = layout.config_folder(&c, &path(bucket, prefix)).unwrap_err();
            assert_eq!(err.code(), "res.1001", "{prefix}");
            assert!(err.to_string().contains("s3://cfg/sources/p1/"), "{err}");
        }
        // Inside the job itself is bound to the project already.
        assert!(layout.config_folder(&c, &path("jobs", "p1/jobs/j1/conf")).is_ok());
    }
}
