// Calls an HTTP API with the standard, Promise-based fetch. `ratchet test` answers the
// request from the mock in tests/*.json, so the tests run offline.
async function main(input) {
  const url = `https://restcountries.com/v3.1/name/${encodeURIComponent(input.country)}?fields=name,capital,population,region`;
  const response = await fetch(url, { headers: { Accept: 'application/json' } });
  if (response.status === 404) {
    throw new DataError(`no country matches "${input.country}"`);
  }
  if (!response.ok) {
    throw new HttpError(response.status, `REST Countries answered ${response.status}`);
  }
  const [country] = await response.json();
  return {
    name: country.name.common,
    capital: (country.capital || [])[0] || null,
    population: country.population,
    region: country.region,
  };
}
