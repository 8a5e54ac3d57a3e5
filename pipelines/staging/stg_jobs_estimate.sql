-- Jobs per commune estimated from INSEE's establishments by size class, 2014
-- (data/jobs_establishments2014.csv, current codes): only their shares are used.
select
    code_insee,
    jobs_estimated::double as jobs_estimated
from raw_jobs_establishments
