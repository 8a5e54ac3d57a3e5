-- The outlines of every EPCI, département and région (Lambert-93): the union of their
-- communes' outlines, derived once by scripts/derive_outlines.py (territory.sources.outlines).
select level, code_insee, ST_GeomFromWKB(geometry) as geometry
from raw_outlines
where level <> 'communes'
