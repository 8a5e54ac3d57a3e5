-- Jobs at the place of work supplied with `--source jobs=FILE` (empty table otherwise).
select code_insee, jobs from raw_jobs_override
