// Uploads through Cloud Storage's XML API, added to fake-gcs-server v1.56.1 at build time by
// hack/object-stores.sh (the file is copied into package fakestorage and one call,
// s.addXMLUploadRoutes(handler), is inserted in buildMuxer before the signed-URL routes).
//
// Why: fake-gcs-server serves uploads of the JSON API only (fsouza/fake-gcs-server#331 and #852
// are open), while obstore (Rust object_store) writes through the XML API as Cloud Storage
// documents it: a single-request `PUT /<bucket>/<object>`, and for large objects the XML
// multipart upload (`POST ?uploads`, `PUT ?partNumber=N&uploadId=U`, `POST ?uploadId=U` with a
// CompleteMultipartUpload document, `DELETE ?uploadId=U`). Without these, a GCS bucket could not
// be written by moco's backup programs in any test.
//
// Parts are kept in temporary files until the upload completes or is aborted; the completed
// object is written through the server's own createObject, so the backends (memory,
// filesystem), generations and events behave as for any other upload.
package fakestorage

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fsouza/fake-gcs-server/internal/backend"
	"github.com/gorilla/mux"
)

type xmlUpload struct {
	bucket, name, contentType string
	dir                       string
	parts                     map[int]string // part number -> ETag (quoted md5)
}

var (
	xmlUploadsMu sync.Mutex
	xmlUploads   = map[string]*xmlUpload{}
	xmlUploadSeq int64
)

func hasQuery(key string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return r.URL.Query().Has(key) }
}

// plainXMLPut matches a PUT that is neither a JSON API upload, a signed-URL upload, a form
// upload nor a part of a multipart upload.
func plainXMLPut(r *http.Request, _ *mux.RouteMatch) bool {
	q := r.URL.Query()
	return q.Get("uploadType") == "" && q.Get("X-Goog-Algorithm") == "" && !q.Has("uploadId") &&
		r.Header.Get("X-Goog-Upload-Protocol") == "" && !matchFormData(r, nil)
}

func (s *Server) addXMLUploadRoutes(handler *mux.Router) {
	const path = "/{bucketName}/{objectName:.+}"
	r := handler.MatcherFunc(s.publicHostMatcher).Subrouter()
	r.Path(path).Methods(http.MethodPost).MatcherFunc(hasQuery("uploads")).HandlerFunc(s.xmlInitiateUpload)
	r.Path(path).Methods(http.MethodPut).MatcherFunc(hasQuery("uploadId")).HandlerFunc(s.xmlUploadPart)
	r.Path(path).Methods(http.MethodPost).MatcherFunc(hasQuery("uploadId")).HandlerFunc(s.xmlCompleteUpload)
	r.Path(path).Methods(http.MethodDelete).MatcherFunc(hasQuery("uploadId")).HandlerFunc(s.xmlAbortUpload)
	r.Path(path).Methods(http.MethodPut).MatcherFunc(plainXMLPut).HandlerFunc(s.xmlPutObject)
}

func xmlError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>%s</Code><Message>%s</Message></Error>", code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) xmlStore(w http.ResponseWriter, r *http.Request, bucket, name, contentType string, body io.Reader) (StreamingObject, bool) {
	if _, err := s.backend.GetBucket(bucket); err != nil {
		xmlError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
		return StreamingObject{}, false
	}
	metadata := map[string]string{}
	for key := range r.Header {
		lower := strings.ToLower(key)
		if k := strings.TrimPrefix(lower, "x-goog-meta-"); k != lower {
			metadata[k] = r.Header.Get(key)
		}
	}
	obj := StreamingObject{
		ObjectAttrs: ObjectAttrs{BucketName: bucket, Name: name, ContentType: contentType, Metadata: metadata},
		Content:     notImplementedSeeker{io.NopCloser(body)},
	}
	var conditions backend.Conditions = backend.NoConditions{}
	if g := r.Header.Get("X-Goog-If-Generation-Match"); g == "0" {
		if old, err := s.backend.GetObject(bucket, name); err == nil {
			old.Close()
			xmlError(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
			return StreamingObject{}, false
		}
	}
	stored, err := s.createObject(obj, conditions)
	if err != nil {
		xmlError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return StreamingObject{}, false
	}
	stored.Close()
	w.Header().Set("ETag", fmt.Sprintf("%q", stored.Etag))
	w.Header().Set("X-Goog-Generation", strconv.FormatInt(stored.Generation, 10))
	return stored, true
}

func (s *Server) xmlPutObject(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	vars := unescapeMuxVars(mux.Vars(r))
	if _, ok := s.xmlStore(w, r, vars["bucketName"], vars["objectName"], r.Header.Get(contentTypeHeader), r.Body); ok {
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) xmlInitiateUpload(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	vars := unescapeMuxVars(mux.Vars(r))
	if _, err := s.backend.GetBucket(vars["bucketName"]); err != nil {
		xmlError(w, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.")
		return
	}
	dir, err := os.MkdirTemp("", "fake-gcs-xml-upload-")
	if err != nil {
		xmlError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	xmlUploadsMu.Lock()
	xmlUploadSeq++
	id := fmt.Sprintf("%s-%d", filepath.Base(dir), xmlUploadSeq)
	xmlUploads[id] = &xmlUpload{
		bucket: vars["bucketName"], name: vars["objectName"], contentType: r.Header.Get(contentTypeHeader),
		dir: dir, parts: map[int]string{},
	}
	xmlUploadsMu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, "<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>",
		xmlEscape(vars["bucketName"]), xmlEscape(vars["objectName"]), id)
}

func lookupUpload(r *http.Request) (string, *xmlUpload) {
	id := r.URL.Query().Get("uploadId")
	xmlUploadsMu.Lock()
	defer xmlUploadsMu.Unlock()
	return id, xmlUploads[id]
}

func (s *Server) xmlUploadPart(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	_, up := lookupUpload(r)
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if up == nil || err != nil || n < 1 || n > 10000 {
		xmlError(w, http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist.")
		return
	}
	f, err := os.Create(filepath.Join(up.dir, strconv.Itoa(n)))
	if err != nil {
		xmlError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	h := md5.New()
	_, err = io.Copy(io.MultiWriter(f, h), r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		xmlError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	etag := fmt.Sprintf("%q", hex.EncodeToString(h.Sum(nil)))
	xmlUploadsMu.Lock()
	up.parts[n] = etag
	xmlUploadsMu.Unlock()
	w.Header().Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
}

type completeMultipartUpload struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

func (s *Server) xmlCompleteUpload(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	id, up := lookupUpload(r)
	if up == nil {
		xmlError(w, http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist.")
		return
	}
	var doc completeMultipartUpload
	if err := xml.NewDecoder(r.Body).Decode(&doc); err != nil {
		xmlError(w, http.StatusBadRequest, "MalformedXML", err.Error())
		return
	}
	if !sort.SliceIsSorted(doc.Parts, func(i, j int) bool { return doc.Parts[i].PartNumber < doc.Parts[j].PartNumber }) {
		xmlError(w, http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order.")
		return
	}
	var readers []io.Reader
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range doc.Parts {
		xmlUploadsMu.Lock()
		etag, ok := up.parts[p.PartNumber]
		xmlUploadsMu.Unlock()
		if !ok || strings.Trim(etag, `"`) != strings.Trim(p.ETag, `"`) {
			xmlError(w, http.StatusBadRequest, "InvalidPart", fmt.Sprintf("part %d was not uploaded or its ETag differs", p.PartNumber))
			return
		}
		f, err := os.Open(filepath.Join(up.dir, strconv.Itoa(p.PartNumber)))
		if err != nil {
			xmlError(w, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	stored, ok := s.xmlStore(w, r, up.bucket, up.name, up.contentType, io.MultiReader(readers...))
	if !ok {
		return
	}
	xmlUploadsMu.Lock()
	delete(xmlUploads, id)
	xmlUploadsMu.Unlock()
	os.RemoveAll(up.dir)
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, "<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>%q</ETag></CompleteMultipartUploadResult>",
		xmlEscape(up.bucket), xmlEscape(up.name), stored.Etag)
}

func (s *Server) xmlAbortUpload(w http.ResponseWriter, r *http.Request) {
	defer r.Body.Close()
	id, up := lookupUpload(r)
	if up == nil {
		xmlError(w, http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist.")
		return
	}
	xmlUploadsMu.Lock()
	delete(xmlUploads, id)
	xmlUploadsMu.Unlock()
	os.RemoveAll(up.dir)
	w.WriteHeader(http.StatusNoContent)
}
