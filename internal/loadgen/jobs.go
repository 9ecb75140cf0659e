package loadgen

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/tarbela-pool/tarbela/share"
)

// jobCacheSize bounds the parsed jobs kept; a pool sends a few per block.
const jobCacheSize = 64

// cachedJob is a parsed notify shared by the miners that received it.
type cachedJob struct {
	job  *share.Job
	prev string
}

// jobCache maps a notify's params without the job id (which Tarbela makes
// per session) to the parsed job, so that N miners receiving one template
// parse it once.
type jobCache struct {
	mu sync.Mutex
	m  map[string]*cachedJob
}

// get returns the parsed job for params, whose text after the job id is
// rest. The job is read-only: miners share it.
func (c *jobCache) get(rest, params []byte, en2Size int) (*cachedJob, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if j, ok := c.m[string(rest)]; ok && j.job.Extranonce2Size == en2Size {
		return j, nil
	}
	job, err := share.JobFromNotify(params, en2Size)
	if err != nil {
		return nil, err
	}
	var p []json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	j := &cachedJob{job: job, prev: string(bytes.Trim(p[1], `"`))}
	if c.m == nil || len(c.m) >= jobCacheSize {
		c.m = make(map[string]*cachedJob)
	}
	c.m[string(rest)] = j
	return j, nil
}

// splitJobID splits notify params `["id",...]` into the quoted job id and
// the rest. ok is false for anything else (then the line is not a notify
// this tool can use).
func splitJobID(params []byte) (idJSON, rest []byte, ok bool) {
	params = bytes.TrimSpace(params)
	if len(params) < 3 || params[0] != '[' {
		return nil, nil, false
	}
	i := 1
	for i < len(params) && (params[i] == ' ' || params[i] == '\t') {
		i++
	}
	if i >= len(params) || params[i] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(params[i+1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	end += i + 1
	if bytes.IndexByte(params[i:end], '\\') >= 0 {
		return nil, nil, false // an escaped id: too odd to take apart here
	}
	return params[i : end+1], params[end+1:], true
}

// notifyMethod marks a mining.notify line in the compact form pools write.
var notifyMethod = []byte(`"method":"mining.notify"`)

// paramsKey starts a notify's params.
var paramsKey = []byte(`"params":`)

// notifyParams finds the params of a mining.notify line without decoding the
// whole line: the params array runs from "params": to the last ']' of the
// line, which holds when params is the line's last array (as every pool
// writes it; the parse of a new job checks the result). ok is false when the
// line is not such a notify, and the caller decodes it in full.
func notifyParams(line []byte) ([]byte, bool) {
	if !bytes.Contains(line, notifyMethod) {
		return nil, false
	}
	i := bytes.Index(line, paramsKey)
	if i < 0 {
		return nil, false
	}
	start := i + len(paramsKey)
	end := bytes.LastIndexByte(line, ']')
	if end < start {
		return nil, false
	}
	p := bytes.TrimSpace(line[start : end+1])
	if len(p) == 0 || p[0] != '[' {
		return nil, false
	}
	return p, true
}
