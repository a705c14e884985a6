// Renders /api/v1/openapi.json as a readable page: no framework, nothing fetched but the
// document. Text from the document is only ever set with textContent.
(function () {
  'use strict';
  var doc = null;
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function deref(s) {
    if (s && s.$ref) {
      var name = s.$ref.split('/').pop();
      return { name: name, schema: doc.components.schemas[name] || {} };
    }
    return { name: null, schema: s || {} };
  }
  function typeText(s) {
    if (!s) return 'any';
    if (s.$ref) return s.$ref.split('/').pop();
    if (s.enum) return s.enum.map(function (v) { return JSON.stringify(v); }).join(' | ');
    if (s.const !== undefined) return JSON.stringify(s.const);
    if (s.oneOf) return s.oneOf.map(typeText).join(' | ');
    var t = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
    if (t === 'array') return 'array of ' + typeText(s.items);
    if (s.format) t += ' (' + s.format + ')';
    return t || 'any';
  }
  function typeCell(s) {
    var td = el('td', { class: 'type' });
    var target = s && (s.$ref || (s.items && s.items.$ref));
    if (target) {
      var name = target.split('/').pop();
      td.appendChild(document.createTextNode(s.items ? 'array of ' : ''));
      td.appendChild(el('a', { class: 'ref', href: '#schema-' + name, text: name }));
    } else {
      td.textContent = typeText(s);
    }
    return td;
  }
  function schemaTable(s) {
    var d = deref(s);
    var sch = d.schema;
    if (sch.type === 'array') {
      var p = el('p', { text: 'An array of ' });
      var tc = typeCell(sch.items);
      while (tc.firstChild) p.appendChild(tc.firstChild);
      return p;
    }
    if (!sch.properties) return el('p', { class: 'type', text: typeText(s) });
    var req = sch.required || [];
    var rows = Object.keys(sch.properties).map(function (k) {
      var p = sch.properties[k];
      return el('tr', {}, [
        el('td', {}, [el('code', { text: k }), req.indexOf(k) >= 0 ? el('span', { class: 'req', text: ' required' }) : null]),
        typeCell(p),
        el('td', { text: p.description || '' })]);
    });
    return el('table', {}, [el('tr', {}, [el('th', { text: 'field' }), el('th', { text: 'type' }),
      el('th', { text: 'description' })])].concat(rows));
  }
  function paramRows(params) {
    var rows = [];
    (params || []).forEach(function (p) {
      if (p.$ref) p = doc.components.parameters[p.$ref.split('/').pop()];
      if (p.name === 'filters' && p.schema && p.schema.properties) {
        var names = Object.keys(p.schema.properties).filter(function (n) {
          return !/_(ne|like|gte|lte|gt|lt|in)$/.test(n);
        });
        rows.push(el('tr', {}, [el('td', {}, [el('code', { text: '<field>[_op]' })]),
          el('td', { text: 'query' }),
          el('td', {}, [el('span', { text: 'Filters on ' + names.join(', ') +
            '. Operators after the name: _ne, _like, _gte, _lte, _gt, _lt, _in. ' }),
            el('span', { text: 'Sortable (_sort): ' + ((params.filter(function (x) { return x.name === '_sort'; })[0] || {})['x-sortable'] || []).join(', ') })])]));
        return;
      }
      rows.push(el('tr', {}, [
        el('td', {}, [el('code', { text: p.name }), p.required ? el('span', { class: 'req', text: ' required' }) : null]),
        el('td', { text: p.in }),
        el('td', { text: (p.description || '') + (p.schema ? ' (' + typeText(p.schema) + ')' : '') })]));
    });
    return rows;
  }
  function operation(path, method, op) {
    var sec = el('section', { class: 'op', id: op.operationId }, [
      el('div', { class: 'line' }, [
        el('span', { class: 'method m-' + method, text: method.toUpperCase() }),
        el('span', { class: 'path', text: path }),
        el('span', { class: 'role', text: 'role: ' + (op['x-ratchet-role'] || 'none') })]),
      el('p', { text: op.summary })]);
    var rows = paramRows(op.parameters);
    if (rows.length) {
      sec.appendChild(el('h3', { text: 'Parameters' }));
      sec.appendChild(el('table', {}, [el('tr', {}, [el('th', { text: 'name' }), el('th', { text: 'in' }),
        el('th', { text: 'description' })])].concat(rows)));
    }
    if (op.requestBody) {
      var s = op.requestBody.content['application/json'].schema;
      sec.appendChild(el('h3', { text: 'Body (application/json)' + (op.requestBody.required ? '' : ', optional') }));
      sec.appendChild(schemaTable(s));
    }
    sec.appendChild(el('h3', { text: 'Responses' }));
    var rr = Object.keys(op.responses).map(function (code) {
      var r = op.responses[code];
      if (r.$ref) r = doc.components.responses[r.$ref.split('/').pop()];
      var content = r.content && r.content[Object.keys(r.content)[0]];
      return el('tr', {}, [el('td', { class: 'status s' + code[0], text: code }),
        content ? typeCell(content.schema) : el('td', { text: '' }),
        el('td', { text: r.description || '' })]);
    });
    sec.appendChild(el('table', {}, rr));
    return sec;
  }
  function render() {
    var main = document.getElementById('main'), nav = document.getElementById('nav');
    main.textContent = '';
    main.appendChild(el('h1', { text: doc.info.title + ' ' + doc.info.version }));
    main.appendChild(el('p', { class: 'desc', text: doc.info.description }));
    main.appendChild(el('p', {}, [el('a', { href: '/api/v1/openapi.json', text: 'openapi.json' })]));
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      Object.keys(doc.paths[path]).forEach(function (m) {
        var op = doc.paths[path][m];
        var t = (op.tags || ['other'])[0];
        (byTag[t] = byTag[t] || []).push([path, m, op]);
      });
    });
    (doc.tags || []).forEach(function (tag) {
      var ops = byTag[tag.name] || [];
      if (!ops.length) return;
      main.appendChild(el('h2', { id: 'tag-' + tag.name, text: tag.name }));
      main.appendChild(el('p', { class: 'desc', text: tag.description || '' }));
      nav.appendChild(el('h2', { text: tag.name }));
      ops.forEach(function (o) {
        main.appendChild(operation(o[0], o[1], o[2]));
        nav.appendChild(el('a', { href: '#' + o[2].operationId, text: o[1].toUpperCase() + ' ' + o[0] }));
      });
    });
    main.appendChild(el('h2', { text: 'Schemas' }));
    nav.appendChild(el('h2', { text: 'schemas' }));
    Object.keys(doc.components.schemas).sort().forEach(function (name) {
      var s = doc.components.schemas[name];
      var sec = el('section', { class: 'op', id: 'schema-' + name }, [el('h3', { text: name }),
        s.description ? el('p', { class: 'desc', text: s.description }) : null, schemaTable(s)]);
      main.appendChild(sec);
      nav.appendChild(el('a', { href: '#schema-' + name, text: name }));
    });
  }
  fetch('/api/v1/openapi.json').then(function (r) {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }).then(function (d) { doc = d; render(); }).catch(function (e) {
    document.getElementById('error').textContent = 'Cannot load /api/v1/openapi.json: ' + e.message;
  });
})();
