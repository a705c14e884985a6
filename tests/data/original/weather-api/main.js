// Current weather for a city from OpenWeatherMap, with the original Ratchet's synchronous
// fetch(url, params): a non-2xx answer throws a typed error (404: HttpError).
(function (input) {
  var units = input.units || 'metric';
  var url = 'https://api.openweathermap.org/data/2.5/weather?q=' + encodeURIComponent(input.city) +
    '&units=' + units + '&appid=' + (input.api_key || 'demo');
  try {
    var response = fetch(url, { method: 'GET', headers: { Accept: 'application/json' } });
    var data = response.body;
    if (!data || !data.main || !data.weather || !data.weather.length) {
      throw new DataError('OpenWeatherMap answered without weather data');
    }
    return {
      location: data.name + ', ' + data.sys.country,
      temperature: data.main.temp,
      units: units === 'imperial' ? 'F' : 'C',
      description: data.weather[0].description,
      humidity: data.main.humidity
    };
  } catch (error) {
    // Our own typed errors (HttpError, DataError, ...) go up as they are; anything else
    // becomes a NetworkError.
    if (error && typeof error.name === 'string' && /\wError$/.test(error.name)) {
      throw error;
    }
    throw new NetworkError('weather request failed: ' + (error && error.message));
  }
})
