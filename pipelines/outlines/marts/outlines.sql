-- Every unit's outline in Lambert-93: the communes' (with where each comes from) and every
-- EPCI's, département's and région's. scripts/derive_outlines.py writes it, with the overseas
-- units also in their territory's CRS, to package_data/boundaries/outlines.parquet.
select 'communes' as level, code_insee, geometry_origin, geometry
from stg_outline_communes
where geometry is not null
union all
select level, code_insee, null, geometry
from int_outline_levels
