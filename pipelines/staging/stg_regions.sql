-- Régions.
select code as code_insee, nom
from raw_regions
