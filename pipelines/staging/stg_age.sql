-- Population by age band supplied with `--source age=FILE` (INSEE base-cc-evol-struct-pop;
-- empty table otherwise).
select
    code_insee,
    age_0014 as age_0_14,
    age_1529 as age_15_29,
    age_3044 as age_30_44,
    age_4559 as age_45_59,
    age_6074 as age_60_74,
    age_75_plus
from raw_age
