-- Départements with their région code.
select d.code as code_insee, d.nom, r.code as region_code
from raw_departements as d
left join raw_regions as r on d.region_id = r.id
