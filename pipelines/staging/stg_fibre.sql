-- FttH coverage per commune from a fibre registry (one row per commune code).
select code_insee, max(ftth_share) as ftth_share, max(ftth_connectable) as ftth_connectable
from raw_fibre
group by code_insee
